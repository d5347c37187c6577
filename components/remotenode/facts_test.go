package remotenode

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/homeslice/homelab/internal/lab/sshdtest"
)

// These tests talk to a real OpenSSH sshd on loopback. The full facts probe
// (script, parsing, checks) runs against the lab's Docker hosts in the lab
// tests; here the handshake and the pinning rules are what is under test.

func target(t *testing.T, srv *sshdtest.Server, index int, name, hostKey string) Target {
	signer, err := ssh.ParsePrivateKey([]byte(srv.ClientKey))
	require.NoError(t, err)
	return Target{Index: index, Name: name, Addresses: []string{srv.Host}, Port: srv.Port, User: srv.User, Signer: signer, HostKey: hostKey}
}

func TestUnpinnedHostsStopWithPinLinesForAll(t *testing.T) {
	a, b := sshdtest.Start(t), sshdtest.Start(t)
	_, err := Gather(context.Background(), []Target{target(t, a, 0, "node1", ""), target(t, b, 2, "node3", "")}, ProbeOptions{})
	var pinErr *PinError
	require.ErrorAs(t, err, &pinErr)
	require.Len(t, pinErr.Nodes, 2)
	assert.Equal(t, a.HostKeyEd25519, pinErr.Nodes[0].Key, "ed25519 is asked for first")
	assert.False(t, pinErr.Nodes[0].Changed)
	assert.Contains(t, err.Error(), "pulumi config set --path 'nodes[0].hostKey' '"+a.HostKeyEd25519+"'")
	assert.Contains(t, err.Error(), "pulumi config set --path 'nodes[2].hostKey' '"+b.HostKeyEd25519+"'")
	assert.Zero(t, a.Logins(), "nothing logged in: the run stopped at the handshake")
}

func TestChangedHostKeyIsReportedAsNew(t *testing.T) {
	srv := sshdtest.Start(t)
	other := sshdtest.Start(t)
	_, err := Gather(context.Background(), []Target{target(t, srv, 1, "node2", other.HostKeyEd25519)}, ProbeOptions{})
	var pinErr *PinError
	require.ErrorAs(t, err, &pinErr)
	require.Len(t, pinErr.Nodes, 1)
	assert.True(t, pinErr.Nodes[0].Changed)
	assert.Equal(t, srv.HostKeyEd25519, pinErr.Nodes[0].Key)
	assert.Contains(t, err.Error(), "node2 (127.0.0.1) presented a NEW host key")
	assert.Zero(t, srv.Logins())
}

func TestPinnedKeyOffersOnlyItsAlgorithm(t *testing.T) {
	// Pinned to the ECDSA key: only ecdsa is offered, so the server answers
	// with that key and the handshake and login succeed. What happens after
	// login (the facts script) is the lab tests' business.
	srv := sshdtest.Start(t)
	_, err := Gather(context.Background(), []Target{target(t, srv, 0, "node1", srv.HostKeyECDSA)}, ProbeOptions{})
	var pinErr *PinError
	assert.False(t, errors.As(err, &pinErr), "the pinned ecdsa key was accepted: %v", err)
	assert.Equal(t, 1, srv.Logins())
}

func TestUnreachableHostNamesNodeAddressAndRemedy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	srv := sshdtest.Start(t)
	tg := target(t, srv, 1, "node2", srv.HostKeyEd25519)
	tg.Addresses = []string{"127.0.0.1"}
	tg.Port = port

	start := time.Now()
	_, err = Gather(context.Background(), []Target{tg}, ProbeOptions{DialTimeout: 2 * time.Second})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "node2: unreachable over SSH (127.0.0.1:"+strconv.Itoa(port)+": connection refused")
	assert.Contains(t, err.Error(), "pulumi config set --path 'nodes[1].down' true")
	assert.Less(t, time.Since(start), 30*time.Second, "bounded by the dial timeout")
}

func TestStaticAddressIsTriedFirst(t *testing.T) {
	// 127.0.0.2 (the "static" address) has no sshd; the install-time
	// 127.0.0.1 answers, and its host key is what gets reported.
	srv := sshdtest.Start(t)
	tg := target(t, srv, 0, "node1", "")
	tg.Addresses = []string{"127.0.0.2", "127.0.0.1"}
	_, err := Gather(context.Background(), []Target{tg}, ProbeOptions{DialTimeout: 2 * time.Second})
	var pinErr *PinError
	require.ErrorAs(t, err, &pinErr)
	assert.Equal(t, "127.0.0.1", pinErr.Nodes[0].Address)
}

// convergedFacts is what a fake sudo prints instead of running the facts
// script: a supported host, so the probe succeeds.
const convergedFacts = `{"machineId":"0123456789abcdef0123456789abcdef","hostname":"node1","osId":"debian","osVersion":"12","arch":"x86_64","networkStack":"netplan","interface":"%s","interfaceKind":"%s","mac":"02:42:0a:00:00:05","addresses":["10.0.0.5/24"],"microk8s":{"installed":false,"version":"","channel":""},"markers":{}}`

// fakeSudo is an sshd option that puts a stand-in sudo running script first
// on the sessions' PATH.
func fakeSudo(t *testing.T, script string) sshdtest.Option {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sudo"), []byte("#!/bin/sh\n"+script), 0o755))
	return sshdtest.WithSetEnv("PATH=" + dir + ":/usr/local/bin:/usr/bin:/bin")
}

// sudoPrinting is a sudo that prints facts with the given default interface.
func sudoPrinting(t *testing.T, iface, kind string) sshdtest.Option {
	return fakeSudo(t, "cat <<'EOF'\n"+fmt.Sprintf(convergedFacts, iface, kind)+"\nEOF\n")
}

// forward relays TCP connections from listen (host:port) to to, so a second
// sshd can answer at another loopback address on the same port.
func forward(t *testing.T, listen, to string) {
	l, err := net.Listen("tcp", listen)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
}

func TestPinMismatchOnOneAddressAndPinOnAnotherIsASuccess(t *testing.T) {
	// The static address (127.0.0.1) is now another node's; the install-time
	// address (127.0.0.2) answers with this node's pinned key.
	other := sshdtest.Start(t, sudoPrinting(t, "eth0", KindEthernet))
	own := sshdtest.Start(t, sudoPrinting(t, "eth0", KindEthernet))
	forward(t, net.JoinHostPort("127.0.0.2", strconv.Itoa(other.Port)), own.Addr())
	tg := target(t, own, 1, "node2", own.HostKeyEd25519)
	tg.Addresses, tg.Port = []string{"127.0.0.1", "127.0.0.2"}, other.Port

	facts, err := Gather(context.Background(), []Target{tg}, ProbeOptions{DialTimeout: 2 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.2", facts[0].ReachedAt)
	assert.Equal(t, own.HostKeyEd25519, facts[0].HostKey)
	assert.Zero(t, other.Logins(), "the machine with another key is never logged into")
	assert.Equal(t, 1, own.Logins())
}

func TestKeyThatDiffersIsReportedWhenTheOtherAddressIsUnreachable(t *testing.T) {
	// The static address answers with another key; the install-time address
	// has nothing listening: the differing key is the report, not "unreachable".
	srv := sshdtest.Start(t)
	tg := target(t, srv, 1, "node2", sshdtest.Pubkey(t))
	tg.Addresses = []string{"127.0.0.1", "127.0.0.2"}
	_, err := Gather(context.Background(), []Target{tg}, ProbeOptions{DialTimeout: 2 * time.Second})
	var pinErr *PinError
	require.ErrorAs(t, err, &pinErr)
	require.Len(t, pinErr.Nodes, 1)
	assert.Equal(t, "127.0.0.1", pinErr.Nodes[0].Address)
	assert.Equal(t, srv.HostKeyEd25519, pinErr.Nodes[0].Key)
	assert.True(t, pinErr.Nodes[0].Changed)
	assert.NotContains(t, err.Error(), "down")
}

func TestAuthenticationFailureNamesUserAndAuthorizedKeys(t *testing.T) {
	srv := sshdtest.Start(t)
	tg := target(t, srv, 1, "node2", srv.HostKeyEd25519)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tg.Signer, err = ssh.NewSignerFromKey(priv) // not in authorized_keys
	require.NoError(t, err)

	_, err = Gather(context.Background(), []Target{tg}, ProbeOptions{})
	require.Error(t, err)
	var pinErr *PinError
	assert.False(t, errors.As(err, &pinErr))
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "node2: "), msg)
	assert.Contains(t, msg, srv.Addr()+": authentication as "+srv.User+" failed")
	assert.Contains(t, msg, "sshPrivateKey must be in "+srv.User+"'s ~/.ssh/authorized_keys")
	assert.NotContains(t, msg, "unreachable")
	assert.NotContains(t, msg, "down", "a live host is never offered as dead")
}

func TestSudoNeedingAPasswordSaysPasswordlessSudo(t *testing.T) {
	srv := sshdtest.Start(t, fakeSudo(t, "echo 'sudo: a password is required' >&2\nexit 1\n"))
	_, err := Gather(context.Background(), []Target{target(t, srv, 0, "node1", srv.HostKeyEd25519)}, ProbeOptions{})
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, srv.Addr()+": sudo -n needs a password for "+srv.User)
	assert.Contains(t, msg, "passwordless sudo is required for "+srv.User)
	assert.NotContains(t, msg, "down")
	assert.Equal(t, 1, srv.Logins())
}

func TestDownIsSuggestedOnlyWhenEveryAddressIsUnreachable(t *testing.T) {
	// The static address refuses; the install-time one is the node, refusing
	// the key: the node is alive, so "mark it down" would be wrong.
	srv := sshdtest.Start(t)
	forward(t, net.JoinHostPort("127.0.0.2", strconv.Itoa(srv.Port)), srv.Addr())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, l.Close())
	tg := target(t, srv, 1, "node2", srv.HostKeyEd25519)
	tg.Addresses = []string{"127.0.0.3", "127.0.0.2"}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tg.Signer, err = ssh.NewSignerFromKey(priv)
	require.NoError(t, err)

	_, err = Gather(context.Background(), []Target{tg}, ProbeOptions{DialTimeout: 2 * time.Second})
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "127.0.0.3:"+strconv.Itoa(srv.Port)+": connection refused")
	assert.Contains(t, msg, "127.0.0.2:"+strconv.Itoa(srv.Port)+": authentication as "+srv.User+" failed")
	assert.NotContains(t, msg, "nodes[1].down")
}

func TestSilentHostIsATimeout(t *testing.T) {
	// Something accepts the connection and never speaks SSH.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	srv := sshdtest.Start(t)
	tg := target(t, srv, 2, "node3", srv.HostKeyEd25519)
	tg.Port = l.Addr().(*net.TCPAddr).Port
	_, err = Gather(context.Background(), []Target{tg}, ProbeOptions{Timeout: time.Second})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "node3: unreachable over SSH (127.0.0.1:"+strconv.Itoa(tg.Port)+": no answer within 1s)")
	assert.Contains(t, err.Error(), "pulumi config set --path 'nodes[2].down' true")
}

func TestFailureKinds(t *testing.T) {
	dial := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: errno}}
	}
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		err  error
		kind failureKind
		says string
	}{
		{dial(syscall.ECONNREFUSED), failRefused, "connection refused"},
		{dial(syscall.EHOSTUNREACH), failNoRoute, "no route to host"},
		{dial(syscall.ENETUNREACH), failNoRoute, "no route to host"},
		{timeout, failTimeout, "no answer within 5s"},
		{context.DeadlineExceeded, failTimeout, "no answer within 5s"},
		{dial(syscall.EACCES), failConnect, "cannot connect"},
	} {
		f := dialFailure(tc.err, 5*time.Second)
		f.hostPort = "10.0.0.5:22"
		assert.Equal(t, tc.kind, f.kind, "%v", tc.err)
		assert.Contains(t, f.String(), "10.0.0.5:22: "+tc.says)
		assert.Equal(t, tc.kind <= failTimeout, f.kind.network())
	}
	auth := handshakeFailure(errors.New("ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain"), time.Second)
	assert.Equal(t, failAuth, auth.kind)
	assert.False(t, auth.kind.network())
	eof := handshakeFailure(fmt.Errorf("ssh: handshake failed: %w", io.EOF), time.Second)
	assert.Equal(t, failHandshake, eof.kind)
	assert.False(t, eof.kind.network(), "something answered: the host is not dead")
}

func TestOnlyPlainEthernetIsSupported(t *testing.T) {
	for kind, want := range map[string]string{
		KindEthernet: "",
		KindVeth:     "",
		KindBridge:   "default interface br0 is a bridge, which is not supported yet",
		KindBond:     "default interface br0 is a bond, which is not supported yet",
		KindVLAN:     "default interface br0 is a VLAN, which is not supported yet",
		KindWifi:     "default interface br0 is a Wi-Fi interface, which is not supported yet",
		"macvlan":    "default interface br0 is of kind macvlan, which is not supported yet",
		"":           "default interface br0 is of unknown kind, which is not supported yet",
	} {
		f := facts(StackNetplan)
		f.Interface, f.InterfaceKind = "br0", kind
		err := f.check()
		if want == "" {
			assert.NoError(t, err, kind)
			continue
		}
		require.Error(t, err, kind)
		assert.Contains(t, err.Error(), want)
		assert.Contains(t, err.Error(), "only plain Ethernet")
	}
}

func TestBridgedHostIsRefusedNamingTheNode(t *testing.T) {
	srv := sshdtest.Start(t, sudoPrinting(t, "br0", KindBridge))
	_, err := Gather(context.Background(), []Target{target(t, srv, 0, "node1", srv.HostKeyEd25519)}, ProbeOptions{})
	require.Error(t, err)
	assert.Equal(t, "node1: at "+srv.Addr()+": default interface br0 is a bridge, which is not supported yet: only plain Ethernet is", err.Error())
}

// TestFactsScriptReportsInterfaceKind runs the real facts script in a network
// namespace of its own whose default route goes over a bridge, a veth, a bond
// or a VLAN. It needs root (unshare); the kinds the kernel cannot create here
// are skipped.
func TestFactsScriptReportsInterfaceKind(t *testing.T) {
	if err := exec.Command("unshare", "-n", "-m", "true").Run(); err != nil {
		t.Skipf("no network namespaces here (unshare -n -m needs root): %v", err)
	}
	script := filepath.Join(t.TempDir(), "facts.sh")
	require.NoError(t, os.WriteFile(script, []byte(factsScript), 0o755))
	const route = "ip addr add 10.9.0.2/24 dev $IF && ip link set $IF up && ip route add default via 10.9.0.1"
	veth := "ip link add veth0 type veth peer name veth1 && ip link set veth1 up"
	for _, tc := range []struct{ kind, iface, setup string }{
		{KindBridge, "br0", "ip link add br0 type bridge"},
		{KindVeth, "veth0", veth},
		{KindBond, "bond0", "ip link add bond0 type bond"},
		{KindVLAN, "veth0.5", veth + " && ip link set veth0 up && ip link add link veth0 name veth0.5 type vlan id 5"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			setup := tc.setup + " && " + strings.ReplaceAll(route, "$IF", tc.iface)
			// sysfs is mounted again in the private mount namespace so that
			// /sys/class/net shows the new namespace's links.
			cmd := exec.Command("unshare", "-n", "-m", "sh", "-c",
				"mount -t sysfs sysfs /sys || exit 98; ("+setup+") >/dev/null 2>&1 || exit 99; exec bash "+script)
			out, err := cmd.Output()
			switch cmd.ProcessState.ExitCode() {
			case 98:
				t.Skip("cannot mount sysfs in a mount namespace here")
			case 99:
				t.Skipf("this kernel cannot make a %s link", tc.kind)
			}
			require.NoError(t, err, "%s", out)
			var f Facts
			require.NoError(t, json.Unmarshal(out, &f), "%s", out)
			assert.Equal(t, tc.iface, f.Interface)
			assert.Equal(t, tc.kind, f.InterfaceKind)
		})
	}
}
