//go:build lab

package hosts_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/homeslice/homelab/internal/lab/hosts"
)

// unreachable is how long a dial to a dead host may take before the test calls it
// unreachable; it bounds the dial, it does not measure speed.
const unreachable = 3 * time.Second

func newLab(t *testing.T, count int, stack hosts.Stack) (*hosts.Network, []*hosts.Host) {
	t.Helper()
	ctx := context.Background()
	n, err := hosts.NewNetwork(ctx, hosts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	hs, err := n.NewHosts(ctx, count, stack)
	if err != nil {
		t.Fatal(err)
	}
	return n, hs
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func runSSH(t *testing.T, h *hosts.Host, cmd string) string {
	t.Helper()
	out, err := h.RunSSH(context.Background(), cmd)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func TestImageIsCachedByContent(t *testing.T) {
	ctx := context.Background()
	for _, s := range hosts.Stacks {
		ref, err := hosts.EnsureImage(ctx, s, testWriter{t})
		if err != nil {
			t.Fatal(err)
		}
		if ref != hosts.ImageRef(s) {
			t.Errorf("%s: image %s, want %s", s, ref, hosts.ImageRef(s))
		}
		start := time.Now()
		if _, err := hosts.EnsureImage(ctx, s, nil); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s, warm lookup %v", s, ref, time.Since(start))
	}
}

func TestThreeHostsOverSSHWithPinnedKeys(t *testing.T) {
	n, hs := newLab(t, 3, hosts.Netplan)
	ids := map[string]bool{}
	for i, h := range hs {
		if want := fmt.Sprintf("node%d", i+1); h.Name() != want {
			t.Errorf("host %d is %s, want %s", i, h.Name(), want)
		}
		if i > 0 && !hs[i-1].IP().Less(h.IP()) {
			t.Errorf("%s has %s, not after %s's %s", h.Name(), h.IP(), hs[i-1].Name(), hs[i-1].IP())
		}
		if !n.Subnet().Contains(h.IP()) {
			t.Errorf("%s: address %s outside %s", h.Name(), h.IP(), n.Subnet())
		}
		if got := runSSH(t, h, "cat /etc/machine-id"); got != h.MachineID() {
			t.Errorf("%s: machine-id %q, want %q", h.Name(), got, h.MachineID())
		}
		ids[h.MachineID()] = true
		if got := runSSH(t, h, "hostname"); got != h.Name() {
			t.Errorf("%s: hostname %q", h.Name(), got)
		}
		if got := runSSH(t, h, "sudo -n id -u"); got != "0" {
			t.Errorf("%s: sudo -n id -u = %q, want 0", h.Name(), got)
		}
		if !strings.HasPrefix(h.HostKey(), "ssh-ed25519 ") {
			t.Errorf("%s: host key %q is not ed25519", h.Name(), h.HostKey())
		}
		// The key the host serves is the one generated for it.
		if got := runSSH(t, h, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub"); got != h.HostKey() {
			t.Errorf("%s: serves %q, pinned %q", h.Name(), got, h.HostKey())
		}
		// A real install owns /etc/hostname and /etc/hosts: replacing them by rename works.
		runSSH(t, h, "sudo sed -i '$a 10.0.0.1 lab-test' /etc/hosts && sudo hostnamectl hostname "+h.Name()+"-renamed && hostname")
	}
	if len(ids) != 3 {
		t.Errorf("machine-ids not distinct: %v", ids)
	}
	// A wrong pin is refused.
	other := hs[1].HostPublicKey()
	cfg := hs[0].ClientConfig(unreachable)
	cfg.HostKeyCallback = ssh.FixedHostKey(other)
	if c, err := hosts.DialSSH(context.Background(), netip.AddrPortFrom(hs[0].IP(), 22), cfg); err == nil {
		c.Close()
		t.Errorf("%s accepted with %s's host key pinned", hs[0].Name(), hs[1].Name())
	}
}

func TestReinstallKeepsAddressAndChangesIdentity(t *testing.T) {
	ctx := context.Background()
	_, hs := newLab(t, 1, hosts.Netplan)
	h := hs[0]
	ip, id, key, oldCfg := h.IP(), h.MachineID(), h.HostKey(), h.ClientConfig(unreachable)
	runSSH(t, h, "echo data | sudo tee /var/lib/precious >/dev/null")
	if err := h.Reinstall(ctx); err != nil {
		t.Fatal(err)
	}
	if h.IP() != ip {
		t.Errorf("address changed: %s -> %s", ip, h.IP())
	}
	if h.MachineID() == id {
		t.Errorf("machine-id unchanged: %s", id)
	}
	if h.HostKey() == key {
		t.Errorf("host key unchanged: %s", key)
	}
	if got := runSSH(t, h, "cat /etc/machine-id"); got != h.MachineID() {
		t.Errorf("machine-id on host %q, want %q", got, h.MachineID())
	}
	if out, err := h.RunSSH(ctx, "if test -e /var/lib/precious; then echo kept; fi"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("the old disk survived a reinstall: %q %v", out, err)
	}
	// The old pin no longer matches.
	c, err := hosts.DialSSH(ctx, netip.AddrPortFrom(ip, 22), oldCfg)
	if err == nil {
		c.Close()
		t.Fatal("the old host key pin still connects after a reinstall")
	}
	if !strings.Contains(err.Error(), "host key mismatch") {
		t.Errorf("old pin: %v, want a host key mismatch", err)
	}
}

func TestStoppedHostIsUnreachableAndKeepsItsDisk(t *testing.T) {
	ctx := context.Background()
	_, hs := newLab(t, 1, hosts.Netplan)
	h := hs[0]
	runSSH(t, h, "echo kept | sudo tee /etc/lab-marker >/dev/null")
	if err := h.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if h.Running(ctx) {
		t.Fatal("running after Stop")
	}
	if c, err := h.Dial(ctx, unreachable); err == nil {
		c.Close()
		t.Fatal("a stopped host accepted ssh")
	}
	if b, err := h.ReadFile(ctx, "/etc/lab-marker"); err != nil || string(b) != "kept\n" {
		t.Errorf("reading a stopped host's disk: %q %v", b, err)
	}
	id := h.MachineID()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := runSSH(t, h, "cat /etc/machine-id /etc/lab-marker"); got != id+"\nkept" {
		t.Errorf("after power on: %q", got)
	}
}

func TestPartitionedHostIsUnreachableUntilHealed(t *testing.T) {
	ctx := context.Background()
	n, hs := newLab(t, 2, hosts.Netplan)
	h, peer := hs[0], hs[1]
	// NET_ADMIN: the host can take an extra address that the machine then reaches.
	extra := n.StaticAddress(0)
	if _, err := h.Exec(ctx, "ip addr add "+extra.String()+"/24 dev eth0"); err != nil {
		t.Fatal(err)
	}
	if c, err := hosts.DialSSH(ctx, netip.AddrPortFrom(extra, 22), h.ClientConfig(10*time.Second)); err != nil {
		t.Fatalf("ssh to the added address %s: %v", extra, err)
	} else {
		c.Close()
	}
	if err := h.Partition(ctx); err != nil {
		t.Fatal(err)
	}
	for _, a := range []netip.Addr{h.IP(), extra} {
		if c, err := hosts.DialSSH(ctx, netip.AddrPortFrom(a, 22), h.ClientConfig(unreachable)); err == nil {
			c.Close()
			t.Errorf("a partitioned host accepted ssh on %s", a)
		}
	}
	// Cut off from its peers too, while the console (docker exec) still works.
	if _, err := h.Exec(ctx, "timeout 3 bash -c 'exec 3<>/dev/tcp/"+peer.IP().String()+"/22'"); err == nil {
		t.Error("a partitioned host reached its peer")
	}
	if out, err := h.Exec(ctx, "ip -4 -o addr show dev eth0"); err != nil || !strings.Contains(out, extra.String()) {
		t.Errorf("addresses lost in a partition: %q %v", out, err)
	}
	if err := h.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if got := runSSH(t, h, "cat /etc/machine-id"); got != h.MachineID() {
		t.Errorf("after heal: machine-id %q", got)
	}
}

func TestEveryNetworkStackBoots(t *testing.T) {
	ctx := context.Background()
	n, err := hosts.NewNetwork(ctx, hosts.Options{Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	// What each stack's host has, as a facts probe would see it.
	probes := map[hosts.Stack]string{
		hosts.Netplan:        "test -x /usr/sbin/netplan && ! test -e /usr/sbin/NetworkManager && ! test -e /usr/sbin/ifup && systemctl is-active systemd-networkd",
		hosts.Networkd:       "! test -e /usr/sbin/netplan && ! test -e /usr/sbin/NetworkManager && systemctl is-active systemd-networkd && test -e /etc/systemd/network/10-eth0.network",
		hosts.NetworkManager: "! test -e /usr/sbin/netplan && ! test -e /usr/sbin/ifup && systemctl is-active NetworkManager",
		hosts.Ifupdown:       "! test -e /usr/sbin/netplan && ! test -e /usr/sbin/NetworkManager && test -x /usr/sbin/ifup && grep -q 'iface eth0 inet static' /etc/network/interfaces",
	}
	for _, s := range hosts.Stacks {
		h, err := n.NewHost(ctx, "host-"+string(s), hosts.HostOptions{Stack: s})
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if out, err := h.RunSSH(ctx, probes[s]); err != nil {
			t.Errorf("%s: probe failed: %v\n%s", s, err, out)
		}
		// The install-time address is still the host's after its stack took over.
		if out, err := h.Exec(ctx, "ip -4 -o addr show dev eth0"); err != nil || !strings.Contains(out, h.IP().String()+"/") {
			t.Errorf("%s: eth0 lost %s: %q %v", s, h.IP(), out, err)
		}
	}
}

func TestRemoveDeletesOnlyItsLab(t *testing.T) {
	ctx := context.Background()
	a, _ := newLab(t, 1, hosts.Netplan)
	_, bh := newLab(t, 1, hosts.Netplan)
	if err := hosts.Remove(ctx, a.Lab()); err != nil {
		t.Fatal(err)
	}
	if a.Hosts()[0].Running(ctx) {
		t.Error("lab a's host survived Remove")
	}
	if !bh[0].Running(ctx) {
		t.Error("removing lab a stopped lab b's host")
	}
	if _, err := bh[0].RunSSH(ctx, "true"); err != nil {
		t.Error(err)
	}
}
