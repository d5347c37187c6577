//go:build lab

package stacks

// The home program through the REAL Pulumi engine (with this project's
// command double) against the lab's Docker hosts: real sshd, real systemd,
// real netplan/networkd/NetworkManager/ifupdown.

import (
	"context"
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

	"github.com/homeslice/homelab/internal/lab/engine"
	"github.com/homeslice/homelab/internal/lab/hosts"
)

type homeLab struct {
	t     *testing.T
	net   *hosts.Network
	hosts []*hosts.Host
	stack *engine.Stack
}

// newHomeLab starts count hosts of one network stack and a stack of the home
// program pointing at them, with no host key pinned yet.
func newHomeLab(t *testing.T, count int, stack hosts.Stack, system map[string]any) *homeLab {
	t.Helper()
	ctx := context.Background()
	n, err := hosts.NewNetwork(ctx, hosts.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, n.Close(context.Background())) })
	hs, err := n.NewHosts(ctx, count, stack)
	require.NoError(t, err)

	l := &homeLab{t: t, net: n, hosts: hs}
	t.Cleanup(l.dumpOnFailure) // runs before the network is closed
	l.stack = engine.New(t, Home, engine.Options{Project: Namespace, Stack: "lab"})
	var nodes []map[string]any
	for i, h := range hs {
		nodes = append(nodes, map[string]any{
			"name": h.Name(), "address": h.IP().String(), "user": h.User(),
			"staticAddress": l.static(i) + fmt.Sprintf("/%d", n.Subnet().Bits()),
			"gateway":       n.Gateway().String(),
		})
	}
	values := map[string]any{Namespace + ":nodes": nodes}
	if system != nil {
		values[Namespace+":system"] = system
	}
	require.NoError(t, l.stack.WriteConfig(ctx, values))
	require.NoError(t, l.stack.SetConfig(ctx, Namespace+":sshPrivateKey", string(n.PrivateKeyPEM()), true))
	return l
}

// dumpOnFailure logs what a person would look at on each host.
func (l *homeLab) dumpOnFailure() {
	if !l.t.Failed() {
		return
	}
	for _, h := range l.hosts {
		out, _ := h.Exec(context.Background(), "ip -4 addr; ip route; ls -l /etc/netplan /etc/systemd/network /var/lib/homelab/steps 2>&1; "+
			"cat /var/lib/homelab/steps/* 2>&1; journalctl --no-pager -n 60 -u homelab-ip-apply -u homelab-ip-rollback -u systemd-networkd -u NetworkManager 2>&1")
		l.t.Logf("--- %s ---\n%s", h.Name(), out)
	}
}

func (l *homeLab) static(i int) string { return l.net.StaticAddress(i).String() }

// pin runs the config-set line a person runs after checking the key.
func (l *homeLab) pin(i int) {
	require.NoError(l.t, l.stack.SetConfig(context.Background(), fmt.Sprintf("%s:nodes[%d].hostKey", Namespace, i), l.hosts[i].HostKey(), false))
}

func (l *homeLab) exec(i int, cmd string) string {
	l.t.Helper()
	out, err := l.hosts[i].Exec(context.Background(), cmd)
	require.NoError(l.t, err, "%s: %s", cmd, out)
	return strings.TrimSpace(out)
}

// assertConverged checks a host as a person would: static address up and
// reachable over SSH with the pinned key, hostname, hosts block, journald.
func (l *homeLab) assertConverged(i int) {
	t := l.t
	t.Helper()
	h := l.hosts[i]
	assert.Contains(t, l.exec(i, "ip -4 -o addr show"), " "+l.static(i)+"/", "%s has its static address", h.Name())
	assert.Equal(t, h.Name(), l.exec(i, "cat /etc/hostname"))
	hostsFile := l.exec(i, "cat /etc/hosts")
	for j, other := range l.hosts {
		assert.Contains(t, hostsFile, l.static(j)+" "+other.Name())
	}
	assert.Contains(t, l.exec(i, "cat /etc/systemd/journald.conf.d/60-homelab.conf"), "Storage=volatile")
	for _, step := range []string{"static-ip", "base"} {
		assert.Contains(t, l.exec(i, "cat /var/lib/homelab/steps/"+step), "state=applied", step)
	}
	assert.Equal(t, "inactive", l.exec(i, "systemctl is-active homelab-ip-rollback.timer || true"))
	cfg := h.ClientConfig(10 * time.Second)
	c, err := hosts.DialSSH(context.Background(), netip.AddrPortFrom(l.net.StaticAddress(i), 22), cfg)
	if assert.NoError(t, err, "ssh to the static address with the pinned key") {
		c.Close()
	}
}

func (l *homeLab) up() engine.Result {
	l.t.Helper()
	res := l.stack.Up(context.Background())
	require.NoError(l.t, res.Err, res.Output)
	return res
}

func (l *homeLab) assertNoChanges() {
	l.t.Helper()
	res := l.stack.PreviewExpectNoChanges(context.Background())
	require.NoError(l.t, res.Err, "a converged lab must preview with no changes:\n%s", res.Output)
	again := l.stack.Up(context.Background())
	require.NoError(l.t, again.Err, again.Output)
	assert.Empty(l.t, again.Changed(), "a second up changes nothing: %+v", again.Steps)
}

func TestLabBareHostsBecomeNodes(t *testing.T) {
	ctx := context.Background()
	l := newHomeLab(t, 3, hosts.Netplan, nil)

	// First contact: no pins. The run stops before any change with one line per node.
	res := l.stack.Preview(ctx)
	require.Error(t, res.Err)
	for i, h := range l.hosts {
		assert.True(t, engine.ErrContains(res.Err, fmt.Sprintf("pulumi config set --path 'nodes[%d].hostKey' '%s'", i, h.HostKey())), "pin line for %s:\n%v", h.Name(), res.Err)
	}
	assert.Empty(t, commands(res.Changed()), "nothing is run on a host before the keys are pinned")
	for i := range l.hosts {
		l.pin(i)
	}

	res = l.up()
	assert.Len(t, commands(res.Changed()), 9, "3 steps per node are created: %v", res.Changed())
	for i := range l.hosts {
		l.assertConverged(i)
	}
	out := l.exec(0, "netplan generate && echo generated")
	assert.Equal(t, "generated", out, "the written netplan passes the real netplan generate")
	l.assertNoChanges()

	// A step undone by hand is re-run, then the lab converges again.
	l.exec(1, "rm /etc/systemd/journald.conf.d/60-homelab.conf")
	res = l.stack.Preview(ctx)
	require.NoError(t, res.Err, res.Output)
	assert.Equal(t, []string{"node2-base"}, res.Changed())
	l.up()
	l.assertConverged(1)
	l.assertNoChanges()

	// The disk of node2 dies; the OS is reinstalled with the same address.
	oldID := l.hosts[1].MachineID()
	require.NoError(t, l.hosts[1].Reinstall(ctx))
	require.NotEqual(t, oldID, l.hosts[1].MachineID())
	res = l.stack.Preview(ctx)
	require.Error(t, res.Err)
	assert.True(t, engine.ErrContains(res.Err, "node2 ("+l.hosts[1].IP().String()+") presented a NEW host key"), "%v", res.Err)
	assert.True(t, engine.ErrContains(res.Err, fmt.Sprintf("pulumi config set --path 'nodes[1].hostKey' '%s'", l.hosts[1].HostKey())))
	l.pin(1)
	res = l.stack.Preview(ctx)
	require.NoError(t, res.Err, res.Output)
	for _, step := range []string{"node2-static-ip", "node2-confirm-ip", "node2-base"} {
		assert.Contains(t, res.Ops(step), apitype.OpReplace, "%s is re-provisioned: %v", step, res.Ops(step))
	}
	assert.False(t, slices.ContainsFunc(res.Changed(), func(n string) bool { return strings.HasPrefix(n, "node1") || strings.HasPrefix(n, "node3") }), "only node2 changes: %v", res.Changed())
	l.up()
	l.assertConverged(1)
	l.assertNoChanges()

	// node3 loses power: the run names it; marked down, the rest is a no-op.
	require.NoError(t, l.hosts[2].Stop(ctx))
	res = l.stack.Preview(ctx)
	require.Error(t, res.Err)
	assert.True(t, engine.ErrContains(res.Err, "node3: unreachable over SSH"), "%v", res.Err)
	require.NoError(t, l.stack.SetConfig(ctx, Namespace+":nodes[2].down", "true", false))
	l.assertNoChanges()
}

func TestLabEachNetworkStack(t *testing.T) {
	for _, stack := range []hosts.Stack{hosts.Networkd, hosts.NetworkManager, hosts.Ifupdown} {
		t.Run(string(stack), func(t *testing.T) {
			l := newHomeLab(t, 1, stack, nil)
			l.pin(0)
			l.up()
			l.assertConverged(0)
			l.assertNoChanges()
		})
	}
}

func TestLabLostConfirmRollsBackAndNextUpReapplies(t *testing.T) {
	ctx := context.Background()
	l := newHomeLab(t, 1, hosts.Netplan, map[string]any{"ipConfirmTime": "20s"})
	l.pin(0)

	// The machine running pulumi cannot reach the new address: the confirm
	// step fails and the host must roll back on its own.
	rule := []string{"OUTPUT", "-d", l.static(0), "-p", "tcp", "--dport", "22", "-j", "REJECT", "--reject-with", "tcp-reset"}
	iptables(t, append([]string{"-I"}, rule...)...)
	t.Cleanup(func() { _ = exec.Command("iptables", append([]string{"-D"}, rule...)...).Run() })

	res := l.stack.Up(ctx)
	require.Error(t, res.Err)
	assert.True(t, engine.ErrContains(res.Err, "node1-confirm-ip"), "%v", res.Err)
	require.Eventually(t, func() bool {
		b, err := l.hosts[0].ReadFile(ctx, "/var/lib/homelab/steps/static-ip")
		return err == nil && strings.Contains(string(b), "state=rolledback")
	}, 2*time.Minute, 2*time.Second, "the host rolls back when the confirm never came")
	assert.NotContains(t, l.exec(0, "ip -4 -o addr show"), " "+l.static(0)+"/", "the static address is gone after the rollback")
	assert.Contains(t, l.exec(0, "journalctl -t homelab --no-pager"), "not confirmed in time")

	// With the path open again, the next up re-applies without state surgery.
	iptables(t, append([]string{"-D"}, rule...)...)
	res = l.stack.Preview(ctx)
	require.NoError(t, res.Err, res.Output)
	assert.Contains(t, res.Ops("node1-static-ip"), apitype.OpReplace)
	l.up()
	l.assertConverged(0)
	l.assertNoChanges()
}

func TestLabFailingStepKeepsTheKeyOutOfItsMessage(t *testing.T) {
	l := newHomeLab(t, 1, hosts.Netplan, map[string]any{"extraPackages": []string{"homelab-no-such-package"}})
	l.pin(0)
	res := l.stack.Up(context.Background())
	require.Error(t, res.Err)
	assert.True(t, engine.ErrContains(res.Err, "node1-base"), "%v", res.Err)
	assert.True(t, engine.ErrContains(res.Err, "homelab-no-such-package"), "the failing command's output is in the error: %v", res.Err)
	key := strings.TrimSpace(string(l.net.PrivateKeyPEM()))
	lines := strings.Split(key, "\n")
	l.stack.AssertNoLeak(context.Background(), lines[len(lines)/2])
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
