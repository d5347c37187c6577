package remotenode

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/homeslice/homelab/internal/netstack"
	"github.com/homeslice/homelab/internal/pulumitest"
)

const (
	cmdType   = "command:remote:Command"
	secretKey = "test-private-key-material-7f3a9c"
	pin       = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXIM4c2i6nfeDVl5bQtxvs0RVaRV0ZCGTYzdzS8uVnV"
)

func facts(stack string) *Facts {
	return &Facts{
		MachineID: "0123456789abcdef0123456789abcdef", Hostname: "debian", OSID: "debian", OSVersion: "12",
		Arch: "x86_64", NetworkStack: stack, Interface: "eth0", MAC: "02:42:0a:00:00:05",
		Addresses: []string{"10.0.0.5/24"}, Markers: map[string]Marker{},
	}
}

func args(f *Facts) *RemoteNodeArgs {
	return &RemoteNodeArgs{
		Address: "10.0.0.5", Port: 22, User: "ubuntu", HostKey: pin,
		StaticAddress: "10.0.0.21/24", Gateway: "10.0.0.1", DNS: []string{"10.0.0.1"},
		Hostname: "node1", Hosts: []HostEntry{{IP: "10.0.0.21", Name: "node1"}},
		Journald: Journald{Storage: "volatile", SystemMaxUse: "64M"},
		Facts:    f,
	}
}

// run declares one RemoteNode with a secret private key and returns what it declared.
func run(t *testing.T, a *RemoteNodeArgs) *pulumitest.Result {
	t.Helper()
	res := pulumitest.Run(t, func(ctx *pulumi.Context) error {
		a.PrivateKey = pulumi.ToSecret(pulumi.String(secretKey)).(pulumi.StringOutput)
		_, err := NewRemoteNode(ctx, "node1", a)
		return err
	}, pulumitest.Options{})
	require.NoError(t, res.Err)
	return res
}

func TestGraphPerNetworkStack(t *testing.T) {
	for _, stack := range []string{StackNetplan, StackNetworkd, StackNetworkManager, StackIfupdown} {
		t.Run(stack, func(t *testing.T) {
			res := run(t, args(facts(stack)))
			cmds := res.ByType(cmdType)
			var names []string
			for _, c := range cmds {
				names = append(names, c.Name)
			}
			assert.Equal(t, []string{"node1-static-ip", "node1-confirm-ip", "node1-base"}, names)

			ns, err := netstack.For(stack)
			require.NoError(t, err)
			ip := res.Get(t, cmdType, "node1-static-ip")
			assert.Contains(t, ip.InputString("create"), ns.ConfigPath("eth0"))
			assert.Contains(t, ip.InputString("create"), "10.0.0.21/24")
			assert.Equal(t, "10.0.0.5", ip.InputString("connection.host"), "static-ip dials the install-time address")
			assert.Equal(t, "10.0.0.21", res.Get(t, cmdType, "node1-confirm-ip").InputString("connection.host"))
			assert.Equal(t, "10.0.0.21", res.Get(t, cmdType, "node1-base").InputString("connection.host"))
		})
	}
}

func TestEveryCommandFollowsTheInvariants(t *testing.T) {
	a := args(facts(StackNetplan))
	a.UpgradeEpoch = 2
	res := run(t, a)
	cmds := res.ByType(cmdType)
	require.Len(t, cmds, 4)
	for _, c := range cmds {
		t.Run(c.Name, func(t *testing.T) {
			triggers, ok := c.Input("triggers")
			require.True(t, ok)
			assert.Contains(t, fmt.Sprint(triggers), "machine-id=0123456789abcdef0123456789abcdef", "invariant 2")
			_, hasDelete := c.Input("delete")
			assert.False(t, hasDelete, "invariant 3: no delete script")
			assert.Equal(t, pin, c.InputString("connection.hostKey"), "invariant 5: pinned host key on every connection")
			assert.True(t, c.IsSecret("connection.privateKey"))
			prev, ok := c.Input("addPreviousOutputInEnv")
			require.True(t, ok)
			assert.False(t, prev.BoolValue())
			_, hasEnv := c.Input("environment")
			assert.False(t, hasEnv, "no environment: sshd drops it without AcceptEnv")
			for _, field := range []string{"create", "update", "stdin"} {
				assert.NotContains(t, c.InputString(field), secretKey, "invariant 4: no secret in %s", field)
			}
			assert.True(t, strings.HasPrefix(c.InputString("create"), "sudo -n bash -c "))
			assert.Equal(t, "urn:pulumi:test::homelab::homelab:index:RemoteNode::node1", c.Parent())
		})
	}
	up := res.Get(t, cmdType, "node1-upgrade")
	assert.Contains(t, fmt.Sprint(up.Inputs["triggers"]), "epoch=2")
}

func TestDependencyChain(t *testing.T) {
	res := run(t, args(facts(StackNetplan)))
	urn := func(n string) string {
		return "urn:pulumi:test::homelab::homelab:index:RemoteNode$" + cmdType + "::" + n
	}
	assert.Contains(t, res.Get(t, cmdType, "node1-confirm-ip").Request.GetDependencies(), urn("node1-static-ip"))
	assert.Contains(t, res.Get(t, cmdType, "node1-base").Request.GetDependencies(), urn("node1-confirm-ip"))
}

func TestRolledBackAddressReplacesTheStaticIPSteps(t *testing.T) {
	f := facts(StackNetplan)
	f.Markers[StepStaticIP] = Marker{State: "rolledback", Hash: "x", Redo: 0, Intact: true}
	res := run(t, args(f))
	for _, n := range []string{"node1-static-ip", "node1-confirm-ip"} {
		assert.Contains(t, fmt.Sprint(res.Get(t, cmdType, n).Inputs["triggers"]), "redo=1", n)
	}
	assert.Contains(t, fmt.Sprint(res.Get(t, cmdType, "node1-base").Inputs["triggers"]), "redo=0")
}

func TestDownNode(t *testing.T) {
	a := args(nil)
	a.Down = true
	res := run(t, a)
	assert.Empty(t, res.ByType(cmdType), "a down node never provisioned declares nothing")

	a = args(nil)
	a.Down, a.Provisioned = true, true
	res = run(t, a)
	cmds := res.ByType(cmdType)
	require.Len(t, cmds, 3, "a provisioned down node keeps its steps in the stack")
	for _, c := range cmds {
		assert.Subset(t, c.Request.GetIgnoreChanges(), []string{"create", "triggers", "connection"}, c.Name)
	}

	// an upgrade epoch bumped while the node is dead adds no step that would
	// dial it; the upgrade it already had is kept
	a = args(nil)
	a.Down, a.Provisioned, a.UpgradeEpoch = true, true, 2
	a.KeptSteps = []string{StepStaticIP, StepConfirmIP, StepBase}
	res = run(t, a)
	assert.Len(t, res.ByType(cmdType), 3, "no new upgrade step on a dead node")
	a.KeptSteps = append(a.KeptSteps, StepUpgrade)
	res = run(t, a)
	assert.Len(t, res.ByType(cmdType), 4, "the dead node's upgrade step stays in the stack")
}

// A gateway or DNS change is a new static-ip attempt: its confirm must be a new
// one too, or the rollback armed by the attempt undoes a successful up.
func TestEveryStaticIPAttemptIsConfirmed(t *testing.T) {
	triggers := func(gateway string) (confirm, base string) {
		a := args(facts(StackNetplan))
		a.Gateway = gateway
		res := run(t, a)
		return fmt.Sprint(res.Get(t, cmdType, "node1-confirm-ip").Inputs["triggers"]),
			fmt.Sprint(res.Get(t, cmdType, "node1-base").Inputs["triggers"])
	}
	confirm1, base1 := triggers("10.0.0.1")
	confirm2, base2 := triggers("10.0.0.254")
	assert.NotEqual(t, confirm1, confirm2, "a new attempt replaces its confirm")
	assert.Contains(t, confirm1, "confirms=static-ip@")
	assert.Equal(t, base1, base2, "nothing else is replaced")
	again, _ := triggers("10.0.0.1")
	assert.Equal(t, confirm1, again, "the same attempt keeps its confirm (a converged host plans nothing)")
}

func TestUnsupportedStackFails(t *testing.T) {
	res := pulumitest.Run(t, func(ctx *pulumi.Context) error {
		_, err := NewRemoteNode(ctx, "node1", args(facts("wicked")))
		return err
	}, pulumitest.Options{})
	require.Error(t, res.Err)
	assert.Contains(t, res.Err.Error(), `node1: network stack "wicked" is not supported`)
}

// After convergence the install-time address (often a DHCP lease) is gone: a
// later change to the network settings must dial the address that answers,
// while a converged host still plans nothing.
func TestStaticIPDialsTheAddressThatAnswers(t *testing.T) {
	converged := func(dns string) (*Facts, *RemoteNodeArgs) {
		f := facts(StackNetplan)
		f.Addresses = []string{"10.0.0.21/24"}
		f.ReachedAt = "10.0.0.21"
		a := args(f)
		s, err := staticIPScript(StackNetplan, netConfig{Interface: "eth0", Address: a.StaticAddress, Gateway: a.Gateway, DNS: []string{dns}}, f.MAC, 180)
		require.NoError(t, err)
		f.Markers[StepStaticIP] = Marker{State: "applied", Hash: s.Hash, Intact: true}
		return f, a
	}

	_, a := converged("10.0.0.1")
	ip := run(t, a).Get(t, cmdType, "node1-static-ip")
	assert.Contains(t, ip.Request.GetIgnoreChanges(), "connection", "converged: whichever address answered, nothing is planned")

	_, a = converged("10.0.0.53") // the host holds another DNS than config now says
	ip = run(t, a).Get(t, cmdType, "node1-static-ip")
	assert.Equal(t, "10.0.0.21", ip.InputString("connection.host"), "a change dials the static address that answers, not the install-time one")
	assert.NotContains(t, ip.Request.GetIgnoreChanges(), "connection")

	fresh := facts(StackNetplan)
	fresh.ReachedAt = "10.0.0.5"
	ip = run(t, args(fresh)).Get(t, cmdType, "node1-static-ip")
	assert.Equal(t, "10.0.0.5", ip.InputString("connection.host"), "a fresh host is dialled on its install-time address")
}

func TestConfirmWaitsForItsAttemptsApply(t *testing.T) {
	res := run(t, args(facts(StackNetplan)))
	ip := res.Get(t, cmdType, "node1-static-ip")
	confirm := res.Get(t, cmdType, "node1-confirm-ip").InputString("create")
	assert.Contains(t, ip.InputString("create"), "cp /var/lib/homelab/ip-attempt /var/lib/homelab/ip-applied", "the apply says when it is done")
	assert.Contains(t, confirm, "applied_file=/var/lib/homelab/ip-applied")
	assert.Contains(t, confirm, "attempt='", "the confirm names the attempt it waits for")
	assert.Contains(t, ip.InputString("create"), "systemctl enable --quiet homelab-ip-rollback.timer", "the rollback survives a reboot")
	assert.NotContains(t, ip.InputString("create"), "systemd-run --quiet --unit=homelab-ip-rollback", "no transient rollback timer")
}
