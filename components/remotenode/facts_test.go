package remotenode

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	assert.Contains(t, err.Error(), "node2: unreachable over SSH (127.0.0.1:"+strconv.Itoa(port)+": ")
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
