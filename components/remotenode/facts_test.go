package remotenode

import (
	"context"
	"errors"
	"net"
	"strconv"
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
