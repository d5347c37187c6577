package remotenode

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unsudo is the script a step's create command runs: the single-quoted word
// after "sudo -n bash -c " (shell.Sudo), unquoted.
func unsudo(t *testing.T, create string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(create, "sudo -n bash -c ")
	require.True(t, ok, "a step runs through shell.Sudo")
	var b strings.Builder
	for rest != "" && rest[0] != ' ' {
		switch {
		case rest[0] == '\'':
			end := strings.IndexByte(rest[1:], '\'')
			require.GreaterOrEqual(t, end, 0, "unbalanced quote")
			b.WriteString(rest[1 : 1+end])
			rest = rest[end+2:]
		case strings.HasPrefix(rest, `\'`):
			b.WriteByte('\'')
			rest = rest[2:]
		default:
			t.Fatalf("unexpected %q in a quoted script", rest[:1])
		}
	}
	return b.String()
}

// aptCall is a line that runs apt-get (or apt, aptitude) as a command.
var aptCall = regexp.MustCompile(`(^|[\s;&|({!]|\$\()(apt-get|apt|aptitude)(\s|$)`)

// On a freshly booted Ubuntu, unattended-upgrades holds the dpkg lock for
// minutes and a bare apt-get fails at once: every apt call of every step waits
// for the lock, through lib.sh's apt_get. Scans every step the component
// declares, on every network stack, with an upgrade epoch.
func TestEveryAptGetWaitsForTheLock(t *testing.T) {
	for _, stack := range []string{StackNetplan, StackNetworkd, StackNetworkManager, StackIfupdown} {
		a := args(facts(stack))
		a.UpgradeEpoch = 1
		a.ExtraPackages = []string{"htop"}
		cmds := run(t, a).ByType(cmdType)
		require.Len(t, cmds, 4)
		for _, c := range cmds {
			script := unsudo(t, c.InputString("create"))
			helper := 0
			for i, line := range strings.Split(script, "\n") {
				code := strings.TrimSpace(line)
				if strings.HasPrefix(code, "#") || !aptCall.MatchString(code) {
					continue
				}
				helper++
				assert.Regexp(t, `-o DPkg::Lock::Timeout="?\$`, code,
					"%s line %d runs apt without waiting for the dpkg lock (use apt_get): %s", c.Name, i+1, code)
			}
			assert.Equal(t, 1, helper, "%s: apt-get is run in one place only, lib.sh's apt_get", c.Name)
		}
	}
	base := baseScript("node1", nil, Journald{Storage: "volatile", SystemMaxUse: "64M"}, BasePackages).Body
	assert.Contains(t, base, "apt_get install", "base installs its packages through apt_get")
	assert.Contains(t, upgradeScript(1).Body, "apt_get -y -qq -o Dpkg::Options::=--force-confold dist-upgrade")
}
