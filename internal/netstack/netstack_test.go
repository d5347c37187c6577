package netstack

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

var testConfig = Config{Interface: "eth0", Address: "10.0.0.21/24", Gateway: "10.0.0.1", DNS: []string{"10.0.0.1", "9.9.9.9"}}

var all = []string{Netplan, Networkd, NetworkManager, Ifupdown}

// TestRenderGolden pins the rendered configuration of every stack; run with
// -update after an intended change and review the diff.
func TestRenderGolden(t *testing.T) {
	for _, name := range all {
		t.Run(name, func(t *testing.T) {
			s, err := For(name)
			require.NoError(t, err)
			assert.Equal(t, name, s.Name())
			got := s.Render(testConfig)
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), got)
		})
	}
}

func TestCommandsQuoteTheInterface(t *testing.T) {
	for _, name := range all {
		s, err := For(name)
		require.NoError(t, err)
		for _, cmd := range []string{s.Apply("et'h0"), s.RollbackApply("et'h0")} {
			assert.NotContains(t, strings.ReplaceAll(cmd, `'\''`, ""), "et'h0", "%s: %s", name, cmd)
		}
		assert.Contains(t, s.ConfigPath("eth0"), "/etc/", name)
		assert.Contains(t, []string{"0600", "0644"}, s.ConfigMode(), name)
	}
}

func TestUnknownStack(t *testing.T) {
	_, err := For("wicked")
	assert.EqualError(t, err, `network stack "wicked" is not supported`)
}
