package lab

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/homeslice/homelab/internal/lab/hosts"
	"github.com/homeslice/homelab/internal/shell"
)

// Node is one lab host in a scenario. Its disasters and inspections fail the test
// when they cannot be carried out.
type Node struct {
	l *Lab
	h *hosts.Host
	i int
}

// Host is the underlying test host.
func (n *Node) Host() *hosts.Host { return n.h }

// Index is the node's position in the nodes config (0-based).
func (n *Node) Index() int { return n.i }

// Name is the hostname (node1, node2, …).
func (n *Node) Name() string { return n.h.Name() }

// IP is the install-time address; it survives Stop, Start and Reinstall.
func (n *Node) IP() netip.Addr { return n.h.IP() }

// StaticAddress is the address scenarios give this node (Network.StaticAddress).
func (n *Node) StaticAddress() netip.Addr { return n.l.Network.StaticAddress(n.i) }

// MachineID is the current install's /etc/machine-id.
func (n *Node) MachineID() string { return n.h.MachineID() }

// HostKey is the current install's host key in authorized_keys form: what a pin says.
func (n *Node) HostKey() string { return n.h.HostKey() }

func (n *Node) must(err error) {
	n.l.t.Helper()
	if err != nil {
		n.l.t.Fatalf("lab: %v", err)
	}
}

// Reinstall is a dead disk and a fresh OS install at the same address: new
// machine-id, new host key, nothing the program wrote.
func (n *Node) Reinstall() {
	n.l.t.Helper()
	n.must(n.h.Reinstall(context.Background()))
}

// Stop cuts the power; the disk stays.
func (n *Node) Stop() {
	n.l.t.Helper()
	n.must(n.h.Stop(context.Background()))
}

// Start powers the node on and waits for SSH.
func (n *Node) Start() {
	n.l.t.Helper()
	n.must(n.h.Start(context.Background()))
}

// Partition cuts the node off every network; Heal reconnects it.
func (n *Node) Partition() {
	n.l.t.Helper()
	n.must(n.h.Partition(context.Background()))
}

// Heal reconnects a partitioned node.
func (n *Node) Heal() {
	n.l.t.Helper()
	n.must(n.h.Heal(context.Background()))
}

// Exec runs cmd as root on the node (not over the network) and returns its
// trimmed output; a non-zero exit fails the test with the output.
func (n *Node) Exec(cmd string) string {
	n.l.t.Helper()
	out, err := n.h.Exec(context.Background(), cmd)
	if err != nil {
		n.l.t.Fatalf("lab: %v: %s", err, out)
	}
	return strings.TrimSpace(out)
}

// ReadFile returns a file's content as the node sees it: read inside a running
// node (Docker's copy would show its own /etc/hosts, not the node's), from the
// disk of a stopped one.
func (n *Node) ReadFile(path string) string {
	n.l.t.Helper()
	b, err := n.read(path)
	n.must(err)
	return b
}

func (n *Node) read(path string) (string, error) {
	ctx := context.Background()
	if !n.h.Running(ctx) {
		b, err := n.h.ReadFile(ctx, path)
		return string(b), err
	}
	// base64 keeps the content exact through the trimmed exec output
	out, err := n.h.Exec(ctx, "base64 -w0 -- "+shell.Quote(path))
	if err != nil {
		return "", fmt.Errorf("%s: reading %s: %w", n.Name(), path, err)
	}
	b, err := base64.StdEncoding.DecodeString(out)
	if err != nil {
		return "", fmt.Errorf("%s: reading %s: %w", n.Name(), path, err)
	}
	return string(b), nil
}

// HasFile reports whether path is a regular file on the node.
func (n *Node) HasFile(path string) bool {
	_, err := n.read(path)
	return err == nil
}

// AssertFile checks that path exists on the node and contains every one of want.
func (n *Node) AssertFile(path string, want ...string) {
	n.l.t.Helper()
	b, err := n.read(path)
	if err != nil {
		n.l.t.Errorf("%s: %s is missing: %v", n.Name(), path, err)
		return
	}
	for _, w := range want {
		if !strings.Contains(b, w) {
			n.l.t.Errorf("%s: %s does not contain %q:\n%s", n.Name(), path, w, b)
		}
	}
}

// AssertNoFile checks that path does not exist on the node.
func (n *Node) AssertNoFile(path string) {
	n.l.t.Helper()
	if out, err := n.h.Exec(context.Background(), "test ! -e "+shell.Quote(path)); err != nil {
		n.l.t.Errorf("%s: %s exists, want it gone (%s)", n.Name(), path, out)
	}
}

// AssertService checks a systemd unit's `systemctl is-active` state ("active",
// "inactive", "failed", …).
func (n *Node) AssertService(unit, want string) {
	n.l.t.Helper()
	// is-active exits non-zero for anything but active: the state is the answer
	got, _ := n.h.Exec(context.Background(), "systemctl is-active "+shell.Quote(unit))
	if got = strings.TrimSpace(got); got != want {
		status, _ := n.h.Exec(context.Background(), "systemctl status --no-pager -n 20 "+shell.Quote(unit)+" 2>&1")
		n.l.t.Errorf("%s: %s is %q, want %q\n%s", n.Name(), unit, got, want, status)
	}
}

// AssertServiceEnabled checks a unit's `systemctl is-enabled` state ("enabled",
// "disabled", …).
func (n *Node) AssertServiceEnabled(unit, want string) {
	n.l.t.Helper()
	got, _ := n.h.Exec(context.Background(), "systemctl is-enabled "+shell.Quote(unit))
	if got = strings.TrimSpace(got); got != want {
		n.l.t.Errorf("%s: %s is %q, want %q", n.Name(), unit, got, want)
	}
}

// AssertAddress checks that the node has addr on an interface, or with present
// false that it has not.
func (n *Node) AssertAddress(addr netip.Addr, present bool) {
	n.l.t.Helper()
	out := n.Exec("ip -4 -o addr show")
	if has := strings.Contains(out, " "+addr.String()+"/"); has != present {
		n.l.t.Errorf("%s: has address %s = %v, want %v:\n%s", n.Name(), addr, has, present, out)
	}
}

// AssertSSH checks that the node answers SSH at addr with its current host key
// pinned (only that key's algorithm offered) and the installer's key, as the
// program's connections do.
func (n *Node) AssertSSH(addr netip.Addr) {
	n.l.t.Helper()
	c, err := hosts.DialSSH(context.Background(), netip.AddrPortFrom(addr, 22), n.h.ClientConfig(10*time.Second))
	if err != nil {
		n.l.t.Errorf("%s: ssh to %s with the pinned host key: %v", n.Name(), addr, err)
		return
	}
	c.Close()
}

// SSHLogins counts the public-key logins sshd accepted since boot, from its journal:
// every connection the program (facts, commands) opened.
func (n *Node) SSHLogins() int {
	n.l.t.Helper()
	count, err := SSHLogins(context.Background(), n.h)
	n.must(err)
	return count
}

// SSHLogins counts the public-key logins sshd accepted on h since boot.
func SSHLogins(ctx context.Context, h *hosts.Host) (int, error) {
	out, err := h.Exec(ctx, "journalctl --no-pager -o cat | grep -c 'Accepted publickey' || true")
	if err != nil {
		return 0, err
	}
	var count int
	if _, err := fmt.Sscan(strings.TrimSpace(out), &count); err != nil {
		return 0, fmt.Errorf("%s: counting ssh logins in %q: %w", h.Name(), out, err)
	}
	return count, nil
}
