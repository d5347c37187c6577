package shell

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuoteRoundTripsThroughARealShell(t *testing.T) {
	for _, s := range []string{"", "plain", "it's", `a "b" $c ${d} $(e) ` + "`f`", "new\nline", `back\slash`, "'", "''"} {
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(s)).Output()
		require.NoError(t, err)
		assert.Equal(t, s, string(out))
	}
}

func TestSudoPassesScriptAndName(t *testing.T) {
	cmd := Sudo("homelab-step", "echo \"$0 ran\"; echo 'quoted'")
	// Run it without sudo: the shape after "sudo -n" is what matters.
	out, err := exec.Command("sh", "-c", cmd[len("sudo -n "):]).Output()
	require.NoError(t, err)
	assert.Equal(t, "homelab-step ran\nquoted\n", string(out))
}
