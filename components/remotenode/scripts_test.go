package remotenode

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/homeslice/homelab/internal/step"
)

var testNet = netConfig{Interface: "eth0", Address: "10.0.0.21/24", Gateway: "10.0.0.1", DNS: []string{"10.0.0.1", "9.9.9.9"}}

// shellcheck runs the real shellcheck on a whole script.
func shellcheck(t *testing.T, name, text string) {
	t.Helper()
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Fatal("shellcheck is not installed (apt-get install shellcheck); .ci/run installs it")
	}
	cmd := exec.Command("shellcheck", "--shell=bash", "--severity=style", "-")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "shellcheck %s:\n%s", name, out)
}

func TestScriptsPassShellcheck(t *testing.T) {
	scripts := map[string]string{
		"facts":   factsScript,
		"confirm": confirmIPScript(testNet, step.NewScript(StepStaticIP, "finish\n"), 1).Text(0),
		"base":    baseScript("node1", []HostEntry{{IP: "10.0.0.21", Name: "node1"}, {IP: "10.0.0.22", Name: "node2"}}, Journald{Storage: "volatile", SystemMaxUse: "64M"}, append(BasePackages, "htop")).Text(2),
		"upgrade": upgradeScript(3).Text(0),
	}
	for _, stack := range []string{StackNetplan, StackNetworkd, StackNetworkManager, StackIfupdown} {
		s, err := staticIPScript(stack, testNet, "02:42:0a:00:00:05", 180)
		require.NoError(t, err)
		scripts["static-ip-"+stack] = s.Text(1)
	}
	for name, text := range scripts {
		t.Run(name, func(t *testing.T) {
			shellcheck(t, name, text)
			lines := strings.Split(strings.TrimSpace(text), "\n")
			assert.Contains(t, text, "set -euo pipefail")
			if name != "facts" {
				assert.Equal(t, "finish", strings.TrimSpace(lines[len(lines)-1]), "a step ends by saying changed or unchanged")
			}
		})
	}
}

func TestHashIgnoresRedoButNotContent(t *testing.T) {
	a := baseScript("node1", nil, Journald{Storage: "volatile", SystemMaxUse: "64M"}, BasePackages)
	b := baseScript("node1", nil, Journald{Storage: "volatile", SystemMaxUse: "32M"}, BasePackages)
	assert.NotEqual(t, a.Hash, b.Hash)
	assert.NotEqual(t, a.Command(0), a.Command(1))
	assert.Contains(t, a.Command(4), "step_redo=4")
	assert.Equal(t, a.Hash, baseScript("node1", nil, Journald{Storage: "volatile", SystemMaxUse: "64M"}, BasePackages).Hash)
}

func TestHostileValuesStayQuoted(t *testing.T) {
	s := baseScript("node1", nil, Journald{Storage: "volatile", SystemMaxUse: "64M"}, []string{"x'; rm -rf / #"})
	assert.Contains(t, s.Body, `'x'\''; rm -rf / #'`)
}

// The interface name comes from the host: every shell use of it is quoted. A
// name with a single quote in it would leave an unbalanced quote anywhere it
// stood unquoted, which bash -n and shellcheck refuse.
func TestHostReportedInterfaceStaysQuoted(t *testing.T) {
	hostile := netConfig{Interface: "eth0';reboot", Address: "10.0.0.21/24", Gateway: "10.0.0.1", DNS: []string{"10.0.0.1"}}
	for _, stack := range []string{StackNetplan, StackNetworkd, StackNetworkManager, StackIfupdown} {
		s, err := staticIPScript(stack, hostile, "02:42:0a:00:00:05", 180)
		require.NoError(t, err)
		confirm := confirmIPScript(hostile, s, 0)
		for name, text := range map[string]string{"static-ip-" + stack: s.Text(0), "confirm-ip": confirm.Text(0)} {
			shellcheck(t, name, text)
			out, err := exec.Command("bash", "-n", "-c", text).CombinedOutput()
			assert.NoError(t, err, "%s: %s", name, out)
		}
	}
}

// DNS can be silently not applied: networkd's DNS= needs systemd-resolved,
// ifupdown's dns-nameservers needs resolvconf. The step writes resolv.conf
// where the stack's own setting would not reach the resolver, and the confirm
// checks the servers are the ones in use.
func TestDNSTakesEffectOrTheConfirmFails(t *testing.T) {
	for stack, applies := range map[string]string{
		StackNetplan:        "systemctl is-active --quiet systemd-resolved",
		StackNetworkd:       "systemctl is-active --quiet systemd-resolved",
		StackIfupdown:       "command -v resolvconf",
		StackNetworkManager: "if ! true; then",
	} {
		s, err := staticIPScript(stack, testNet, "02:42:0a:00:00:05", 180)
		require.NoError(t, err)
		assert.Contains(t, s.Body, applies, stack)
		assert.Contains(t, s.Body, "printf 'nameserver %s\\n' '10.0.0.1' '9.9.9.9'", stack)
	}
	confirm := confirmIPScript(testNet, step.NewScript(StepStaticIP, "finish\n"), 0).Body
	assert.Contains(t, confirm, "servers=('10.0.0.1' '9.9.9.9' )")
	assert.Contains(t, confirm, "is not in use on the host")

	noDNS := testNet
	noDNS.DNS = nil
	s, err := staticIPScript(StackNetworkd, noDNS, "", 180)
	require.NoError(t, err)
	assert.NotContains(t, s.Body, "resolv_desired=$(mktemp)", "no DNS configured: resolv.conf is left alone")
}
