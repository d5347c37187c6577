//go:build lab

package stacks_test

// The home program through the REAL Pulumi engine (with this project's
// command double) against the lab's Docker hosts: real sshd, real systemd,
// real netplan/networkd/NetworkManager/ifupdown. An external test package:
// internal/lab must not import stacks, so stacks' scenarios import lab.

import (
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/homeslice/homelab/internal/lab"
	"github.com/homeslice/homelab/internal/lab/hosts"
	"github.com/homeslice/homelab/stacks"
)

// newHomeLab starts count hosts of one network stack and a stack of the home
// program pointing at them (system config when given), with no host key pinned.
func newHomeLab(t *testing.T, count int, stack hosts.Stack, system map[string]any) *lab.Lab {
	t.Helper()
	l := lab.New(t, count, lab.Options{Project: stacks.Namespace, Program: stacks.Home, NetworkStack: stack})
	l.WriteNodesConfig()
	if system != nil {
		l.WriteConfig(map[string]any{"system": system})
	}
	return l
}

// assertConverged checks a host as a person would: static address up and
// reachable over SSH with the pinned key, hostname, hosts block, journald,
// step markers, no rollback pending.
func assertConverged(t *testing.T, l *lab.Lab, i int) {
	t.Helper()
	n := l.Node(i)
	n.AssertAddress(n.StaticAddress(), true)
	assert.Equal(t, n.Name(), n.Exec("cat /etc/hostname"))
	var entries []string
	for _, other := range l.Nodes() {
		entries = append(entries, other.StaticAddress().String()+" "+other.Name())
	}
	n.AssertFile("/etc/hosts", entries...)
	n.AssertFile("/etc/systemd/journald.conf.d/60-homelab.conf", "Storage=volatile")
	for _, step := range []string{"static-ip", "base"} {
		n.AssertFile("/var/lib/homelab/steps/"+step, "state=applied")
	}
	n.AssertService("homelab-ip-rollback.timer", "inactive")
	n.AssertSSH(n.StaticAddress())
}

func TestLabBareHostsBecomeNodes(t *testing.T) {
	l := newHomeLab(t, 3, hosts.Netplan, nil)

	// First contact: no pins. The run stops before any change with one line per node.
	var pins []string
	for _, n := range l.Nodes() {
		pins = append(pins, n.PinLine())
	}
	res := l.PreviewFails(pins...)
	assert.Empty(t, commands(res.Changed()), "nothing is run on a host before the keys are pinned")
	for _, n := range l.Nodes() {
		n.AssertNoFile("/var/lib/homelab/steps")
		n.Pin()
	}

	res = l.Up(nil)
	assert.Len(t, commands(res.Changed()), 9, "3 steps per node are created: %v", res.Changed())
	for _, step := range commands(res.Changed()) {
		assert.Equal(t, []apitype.OpType{apitype.OpCreate}, res.Ops(step), "%s on bare hosts", step)
	}
	for i := range l.Nodes() {
		assertConverged(t, l, i)
	}
	assert.Equal(t, "generated", l.Node(0).Exec("netplan generate && echo generated"), "the written netplan passes the real netplan generate")
	l.AssertNoChanges()

	// A step undone by hand is re-run, then the lab converges again.
	l.Node(1).Exec("rm /etc/systemd/journald.conf.d/60-homelab.conf")
	res = l.Preview()
	assert.Equal(t, []string{"node2-base"}, res.Changed())
	l.Up(nil)
	assertConverged(t, l, 1)
	l.AssertNoChanges()

	// The disk of node2 dies; the OS is reinstalled with the same address.
	node2 := l.Node(1)
	oldID := node2.MachineID()
	node2.Reinstall()
	require.NotEqual(t, oldID, node2.MachineID())
	l.PreviewFails("node2 ("+node2.IP().String()+") presented a NEW host key", node2.PinLine())
	node2.Pin()
	res = l.Preview()
	for _, step := range []string{"node2-static-ip", "node2-confirm-ip", "node2-base"} {
		assert.Contains(t, res.Ops(step), apitype.OpReplace, "%s is re-provisioned: %v", step, res.Ops(step))
	}
	assert.False(t, slices.ContainsFunc(res.Changed(), func(n string) bool { return strings.HasPrefix(n, "node1") || strings.HasPrefix(n, "node3") }), "only node2 changes: %v", res.Changed())
	l.Up(nil)
	assertConverged(t, l, 1)
	l.AssertNoChanges()

	// node3 loses power: the run names it; marked down, the rest is a no-op.
	l.Node(2).Stop()
	l.PreviewFails("node3: unreachable over SSH")
	l.ConfigSet("nodes[2].down", "true")
	l.AssertNoChanges()
}

func TestLabEachNetworkStack(t *testing.T) {
	for _, stack := range []hosts.Stack{hosts.Networkd, hosts.NetworkManager, hosts.Ifupdown} {
		t.Run(string(stack), func(t *testing.T) {
			l := newHomeLab(t, 1, stack, nil)
			// a DNS server: the confirm fails unless the host really uses it
			dns := l.Network.Gateway().String()
			l.ConfigSet("nodes[0].dns[0]", dns)
			l.Node(0).Pin()
			l.Up(nil)
			assertConverged(t, l, 0)
			l.Node(0).AssertFile("/etc/resolv.conf", "nameserver "+dns)
			if stack == hosts.Ifupdown {
				l.Node(0).AssertFile("/etc/network/interfaces", "iface eth1 inet dhcp", "source /etc/network/interfaces.d/*")
				assert.NotContains(t, l.Node(0).ReadFile("/etc/network/interfaces"), "iface eth0", "eth0's stanza moved to interfaces.d")
			}
			l.AssertNoChanges()
		})
	}
}

func TestLabLostConfirmRollsBackAndNextUpReapplies(t *testing.T) {
	l := newHomeLab(t, 1, hosts.Netplan, map[string]any{"ipConfirmTime": "20s"})
	n := l.Node(0)
	n.Pin()

	// The machine running pulumi cannot reach the new address: the confirm
	// step fails and the host must roll back on its own.
	rule := []string{"OUTPUT", "-d", n.StaticAddress().String(), "-p", "tcp", "--dport", "22", "-j", "REJECT", "--reject-with", "tcp-reset"}
	iptables(t, append([]string{"-I"}, rule...)...)
	t.Cleanup(func() { _ = exec.Command("iptables", append([]string{"-D"}, rule...)...).Run() })

	l.UpFails(nil, "node1-confirm-ip")
	// Power-cycled inside the rollback window: the unconfirmed configuration is
	// on disk and comes up at boot, and the rollback must still come after it.
	// (Start waits for SSH on the install-time address: the rollback brings it back.)
	n.Stop()
	n.Start()
	l.WaitFor("the host rolls back when the confirm never came", 2*time.Minute, func() error {
		if b := n.Exec("cat /var/lib/homelab/steps/static-ip 2>&1 || true"); !strings.Contains(b, "state=rolledback") {
			return fmt.Errorf("static-ip marker: %s", b)
		}
		return nil
	})
	n.AssertAddress(n.StaticAddress(), false)
	assert.Contains(t, n.Exec("journalctl -t homelab --no-pager"), "not confirmed in time")

	// With the path open again, the next up re-applies without state surgery.
	iptables(t, append([]string{"-D"}, rule...)...)
	res := l.Preview()
	assert.Contains(t, res.Ops("node1-static-ip"), apitype.OpReplace)
	l.Up(nil)
	assertConverged(t, l, 0)
	l.AssertNoChanges()
}

// assertIPSettled checks that no rollback is left armed: the confirm of the
// last attempt disarmed it, so nothing undoes a successful up minutes later.
func assertIPSettled(t *testing.T, n *lab.Node, addr netip.Addr) {
	t.Helper()
	n.AssertAddress(addr, true)
	n.AssertFile("/var/lib/homelab/steps/static-ip", "state=applied")
	n.AssertService("homelab-ip-rollback.timer", "inactive")
	n.AssertServiceEnabled("homelab-ip-rollback.timer", "disabled")
	n.AssertSSH(addr)
}

// Day-2 changes to a converged node's network: its install-time address is gone
// (as a DHCP lease is once the static address is up), so each change must reach
// the host on the address that answers, be confirmed, and stay.
func TestLabDayTwoNetworkChanges(t *testing.T) {
	l := newHomeLab(t, 1, hosts.Netplan, map[string]any{"ipConfirmTime": "20s"})
	n := l.Node(0)
	n.Pin()
	l.Up(nil)
	assertConverged(t, l, 0)
	n.AssertAddress(n.IP(), false)
	l.AssertNoChanges()

	bits := l.Network.Subnet().Bits()
	dns := l.Network.StaticAddress(20).String()
	l.ConfigSet("nodes[0].dns[0]", dns)
	res := l.Preview()
	assert.Equal(t, []apitype.OpType{apitype.OpUpdate}, res.Ops("node1-static-ip"), "a DNS change updates static-ip")
	assert.Contains(t, res.Ops("node1-confirm-ip"), apitype.OpReplace, "and a new confirm confirms that attempt")
	l.Up(nil)
	n.AssertFile("/etc/netplan/60-homelab.yaml", dns)
	assertIPSettled(t, n, n.StaticAddress())
	l.AssertNoChanges()

	gateway := l.Network.StaticAddress(21).String()
	l.ConfigSet("nodes[0].gateway", gateway)
	l.Up(nil)
	n.AssertFile("/etc/netplan/60-homelab.yaml", gateway)
	assertIPSettled(t, n, n.StaticAddress())
	l.AssertNoChanges()

	// Renumbered before it is clustered: dialled on its old address, confirmed on the new.
	renumbered := l.Network.StaticAddress(5)
	l.ConfigSet("nodes[0].staticAddress", netip.PrefixFrom(renumbered, bits).String())
	l.Up(nil)
	assertIPSettled(t, n, renumbered)
	n.AssertAddress(n.StaticAddress(), false)
	l.AssertNoChanges()
}

// A DHCP reservation equal to the static address: the host answers there
// before the static configuration is applied, so the confirm must wait for the
// apply, or it disarms the rollback before the apply it should guard has run.
func TestLabReservationEqualToTheStaticAddress(t *testing.T) {
	l := newHomeLab(t, 1, hosts.Netplan, nil)
	n := l.Node(0)
	l.ConfigSet("nodes[0].staticAddress", netip.PrefixFrom(n.IP(), l.Network.Subnet().Bits()).String())
	n.Pin()
	l.Up(nil)
	assertIPSettled(t, n, n.IP())
	log := n.Exec("journalctl -t homelab -o cat --no-pager")
	applied, confirmed := strings.Index(log, " applied"), strings.Index(log, " confirmed")
	require.True(t, applied >= 0 && confirmed >= 0, "the apply and the confirm log their attempt: %s", log)
	assert.Less(t, applied, confirmed, "the confirm came after the apply it confirms: %s", log)
	l.AssertNoChanges()
}

// A cloud-init install: its 50-cloud-init.yaml names the interface with match
// and set-name and configures a second interface too. The static address takes
// over only the default interface's definition, keeps how it is named, leaves
// the other interface alone, and turns cloud-init's network rendering off; a
// cloud-init file rewritten behind the program's back is noticed and taken over
// again.
func TestLabCloudInitLayout(t *testing.T) {
	l := lab.New(t, 1, lab.Options{Project: stacks.Namespace, Program: stacks.Home, CloudInit: true})
	l.WriteNodesConfig()
	n := l.Node(0)
	original := n.ReadFile("/etc/netplan/50-cloud-init.yaml")
	n.Pin()
	l.Up(nil)
	assertConverged(t, l, 0)

	cloud := n.ReadFile("/etc/netplan/50-cloud-init.yaml")
	assert.Contains(t, cloud, "eth1", "the other interface stays configured")
	assert.NotContains(t, cloud, n.IP().String(), "cloud-init's definition of the default interface is gone")
	ours := n.ReadFile("/etc/netplan/60-homelab.yaml")
	assert.Contains(t, ours, "set-name: \"eth0\"", "how the interface is named is kept for the next boot")
	assert.Contains(t, ours, "name: \"eth0\"")
	n.AssertFile("/etc/cloud/cloud.cfg.d/99-homelab-network.cfg", "network: {config: disabled}")
	assert.Equal(t, "generated", n.Exec("netplan generate && echo generated"))
	l.AssertNoChanges()

	// cloud-init (or a person) writes its file back: the next run takes over again
	require.NoError(t, n.Host().WriteFile(t.Context(), "/etc/netplan/50-cloud-init.yaml", []byte(original), 0o600))
	res := l.Preview()
	assert.Contains(t, res.Ops("node1-static-ip"), apitype.OpReplace, "the marker watches the netplan files")
	l.Up(nil)
	assertConverged(t, l, 0)
	assert.NotContains(t, n.ReadFile("/etc/netplan/50-cloud-init.yaml"), n.IP().String())
	l.AssertNoChanges()
}

func TestLabFailingStepKeepsTheKeyOutOfItsMessage(t *testing.T) {
	l := newHomeLab(t, 1, hosts.Netplan, map[string]any{"extraPackages": []string{"homelab-no-such-package"}})
	l.Node(0).Pin()
	// the failing command's output is in the error
	l.UpFails(nil, "node1-base", "homelab-no-such-package")
	// no line of the private key's body is in plain text anywhere
	for _, line := range strings.Split(strings.TrimSpace(string(l.Network.PrivateKeyPEM())), "\n") {
		if !strings.HasPrefix(line, "-----") {
			l.Stack.AssertNoLeak(t.Context(), line)
		}
	}
}

// commands keeps the names of per-node steps ("node1-base"), dropping the
// stack, components and providers.
func commands(names []string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, "node") && strings.Contains(n, "-") {
			out = append(out, n)
		}
	}
	return out
}

func iptables(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("iptables", args...).CombinedOutput()
	require.NoError(t, err, "iptables %v: %s", args, out)
}
