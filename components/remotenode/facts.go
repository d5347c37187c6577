package remotenode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/homeslice/homelab/internal/shell"
	"github.com/homeslice/homelab/internal/step"
)

// Facts is what a host is, read over SSH on every preview and up. Only the
// identity facts (MachineID, OSID, OSVersion, Arch, NetworkStack, Interface,
// MAC) may flow into resource inputs: the others change when the run itself
// does its work, and feeding them into inputs would make every second run show
// a diff (invariant 8).
type Facts struct {
	MachineID    string            `json:"machineId"`
	Hostname     string            `json:"hostname"`
	OSID         string            `json:"osId"`
	OSVersion    string            `json:"osVersion"`
	Arch         string            `json:"arch"`
	NetworkStack string            `json:"networkStack"`
	Interface    string            `json:"interface"`
	MAC          string            `json:"mac"`
	Addresses    []string          `json:"addresses"`
	Microk8s     Snap              `json:"microk8s"`
	Markers      map[string]Marker `json:"markers"`

	// InterfaceKind is what the default interface is (ethernet, veth, bridge,
	// bond, vlan, wifi, or the kernel's link kind); it is checked, never an input.
	InterfaceKind string `json:"interfaceKind"`

	// HostKey is the key the host presented, in authorized_keys form.
	HostKey string `json:"hostKey"`
	// ReachedAt is the address that answered: the static address once the
	// static-IP step has been applied, the install-time address before.
	ReachedAt string `json:"reachedAt"`
}

// Snap is the microk8s snap as installed on the host.
type Snap struct {
	Installed bool   `json:"installed"`
	Version   string `json:"version"`
	Channel   string `json:"channel"`
}

// Marker is what a provisioning step recorded on the host when it last ran.
type Marker = step.Marker

// Network stacks a host can be configured with.
const (
	StackNetplan        = "netplan"
	StackNetworkManager = "networkmanager"
	StackNetworkd       = "networkd"
	StackIfupdown       = "ifupdown"
)

// Interface kinds facts.sh reports besides the kernel's own link kinds.
const (
	KindEthernet = "ethernet"
	KindVeth     = "veth" // the lab's container hosts
	KindBridge   = "bridge"
	KindBond     = "bond"
	KindVLAN     = "vlan"
	KindWifi     = "wifi"
)

// Target is one host to probe.
type Target struct {
	// Index is the node's position in config, for `nodes[i]` in messages.
	Index int
	Name  string
	// Addresses are tried in order: the static address first, then the
	// install-time one.
	Addresses []string
	Port      int
	User      string
	Signer    ssh.Signer
	// HostKey is the pinned key in authorized_keys form; empty when unpinned.
	HostKey string
}

// ProbeOptions bound how long a probe waits.
type ProbeOptions struct {
	// DialTimeout bounds each TCP connect (default 5 s), so a dead host is
	// reported within seconds rather than after the OS's connect timeout.
	DialTimeout time.Duration
	// Timeout bounds the handshake and the facts script per address (default 30 s).
	Timeout time.Duration
}

func (o ProbeOptions) withDefaults() ProbeOptions {
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	return o
}

// PinError lists every node whose host key must be pinned (or re-pinned after
// a reinstall), with the exact lines the person runs: a program cannot write
// its own config.
type PinError struct {
	Nodes []PinNeeded
}

// PinNeeded is one node whose presented key is not its pin.
type PinNeeded struct {
	Index   int
	Name    string
	Address string
	Key     string // presented key, authorized_keys form
	Changed bool   // a pin existed and the host presented another key
}

func (e *PinError) Error() string {
	var b strings.Builder
	b.WriteString("host keys must be pinned before anything changes; nothing was changed.\n")
	for _, n := range e.Nodes {
		if n.Changed {
			fmt.Fprintf(&b, "%s (%s) presented a NEW host key. If you reinstalled it, pin the new key; if not, stop and find out why.\n", n.Name, n.Address)
		} else {
			fmt.Fprintf(&b, "%s (%s) has no pinned host key.\n", n.Name, n.Address)
		}
	}
	b.WriteString("Check each key against the host's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then run:\n")
	for _, n := range e.Nodes {
		fmt.Fprintf(&b, "  pulumi config set --path 'nodes[%d].hostKey' %s\n", n.Index, shell.Quote(n.Key))
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// errPinMismatch aborts a handshake whose key is not the pin; the presented key
// is recorded before it is returned.
var errPinMismatch = errors.New("host key is not the pinned key")

// Gather probes every target in parallel, one SSH connection each, and returns
// their facts in target order. Pin problems of all nodes come back together as
// one *PinError; other failures name the node, address and cause.
func Gather(ctx context.Context, targets []Target, o ProbeOptions) ([]*Facts, error) {
	o = o.withDefaults()
	facts := make([]*Facts, len(targets))
	errs := make([]error, len(targets))
	pins := make([]*PinNeeded, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			facts[i], pins[i], errs[i] = probe(ctx, t, o)
		})
	}
	wg.Wait()

	var pinErr PinError
	for _, p := range pins {
		if p != nil {
			pinErr.Nodes = append(pinErr.Nodes, *p)
		}
	}
	var all []error
	if len(pinErr.Nodes) > 0 {
		all = append(all, &pinErr)
	}
	for _, err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	if len(all) > 0 {
		return nil, errors.Join(all...)
	}
	return facts, nil
}

// probe tries every address of t in order and reads the facts from the first
// that answers with the pinned key. A key is judged only once every address
// was tried: an address that now belongs to another machine (a reused DHCP
// lease, another node's static address) shows that machine's key, which says
// nothing about this node when another address answers with its pin.
func probe(ctx context.Context, t Target, o ProbeOptions) (*Facts, *PinNeeded, error) {
	var pin ssh.PublicKey
	if t.HostKey != "" {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(t.HostKey))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: parsing pinned host key: %w", t.Name, err)
		}
		pin = k
	}
	var failures []*failure
	for _, addr := range dedupe(t.Addresses) {
		hostPort := net.JoinHostPort(addr, strconv.Itoa(t.Port))
		f, fail := probeAddress(ctx, t, hostPort, pin, o)
		if fail != nil {
			failures = append(failures, fail)
			continue
		}
		if err := f.check(); err != nil {
			// The node itself answered: what it is decides, not the other address.
			return nil, nil, fmt.Errorf("%s: at %s: %w", t.Name, hostPort, err)
		}
		f.ReachedAt = addr
		return f, nil, nil
	}
	p, err := judge(t, pin, failures)
	return nil, p, err
}

// judge turns the failures of every address of t into the one report a person
// acts on. The node's own host answered (its pinned key was accepted) when a
// failure came after the handshake: that failure is the news. Otherwise a key
// that is not the pin means a pin line to run. Otherwise nothing answered SSH.
func judge(t Target, pin ssh.PublicKey, failures []*failure) (*PinNeeded, error) {
	var parts []string
	reached, network := false, true
	for _, f := range failures {
		parts = append(parts, f.String())
		reached = reached || f.kind.pastHostKey()
		network = network && f.kind.network()
	}
	if !reached {
		for _, f := range failures {
			if f.kind == failHostKey {
				return &PinNeeded{
					Index: t.Index, Name: t.Name, Address: f.addr,
					Key:     strings.TrimSpace(string(ssh.MarshalAuthorizedKey(f.presented))),
					Changed: pin != nil,
				}, nil
			}
		}
	}
	if network {
		return nil, fmt.Errorf("%s: unreachable over SSH (%s); check that the host is on and has one of these addresses; if the host is dead, mark it with pulumi config set --path 'nodes[%d].down' true",
			t.Name, strings.Join(parts, "; "), t.Index)
	}
	return nil, fmt.Errorf("%s: facts not read over SSH (%s)", t.Name, strings.Join(parts, "; "))
}

// failureKind is why one address gave no facts.
type failureKind int

const (
	// Nothing answered SSH at the network level: the only kinds for which a
	// node may be dead.
	failNoRoute failureKind = iota
	failRefused
	failTimeout
	// Not known to be the node: another connect error, a failed handshake, a
	// key that is not the pin.
	failConnect
	failHandshake
	failHostKey
	// The pinned key was accepted: the node itself answered.
	failAuth
	failSudo
	failNoSudo
	failFacts
)

func (k failureKind) network() bool     { return k <= failTimeout }
func (k failureKind) pastHostKey() bool { return k >= failAuth }

// failure is one address's attempt.
type failure struct {
	hostPort  string
	addr      string
	kind      failureKind
	user      string
	presented ssh.PublicKey // failHostKey: the key the host offered
	after     time.Duration // failTimeout: how long was waited
	err       error
}

// String says what failed at the address and, where the person can act on
// it, what to do.
func (f *failure) String() string {
	var what string
	switch f.kind {
	case failNoRoute:
		what = "no route to host"
	case failRefused:
		what = "connection refused (nothing listens on the SSH port)"
	case failTimeout:
		what = fmt.Sprintf("no answer within %s", f.after)
	case failConnect:
		what = fmt.Sprintf("cannot connect: %v", f.err)
	case failHandshake:
		what = fmt.Sprintf("ssh handshake failed: %v", f.err)
	case failHostKey:
		what = "presented a host key that is not the pin (another machine may hold this address)"
	case failAuth:
		what = fmt.Sprintf("authentication as %s failed: the host refused the key; the public key of sshPrivateKey must be in %s's ~/.ssh/authorized_keys", f.user, f.user)
	case failSudo:
		what = fmt.Sprintf("sudo -n needs a password for %s: the facts script runs with sudo, so passwordless sudo is required for %s (%s ALL=(ALL) NOPASSWD:ALL in /etc/sudoers.d/)", f.user, f.user, f.user)
	case failNoSudo:
		what = fmt.Sprintf("sudo is not installed: install it; passwordless sudo is required for %s", f.user)
	default:
		what = f.err.Error()
	}
	return f.hostPort + ": " + what
}

// dialFailure classifies a failed TCP connect.
func dialFailure(err error, after time.Duration) *failure {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &failure{kind: failRefused, err: err}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return &failure{kind: failNoRoute, err: err}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &failure{kind: failTimeout, after: after, err: err}
	}
	return &failure{kind: failConnect, err: err}
}

// handshakeFailure classifies a failed SSH handshake. x/crypto/ssh has no
// typed error for a refused login; its message is stable.
func handshakeFailure(err error, after time.Duration) *failure {
	var ne net.Error
	switch {
	case errors.Is(err, errPinMismatch):
		return &failure{kind: failHostKey, err: err}
	case strings.Contains(err.Error(), "unable to authenticate"):
		return &failure{kind: failAuth, err: err}
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &failure{kind: failTimeout, after: after, err: err}
	}
	return &failure{kind: failHandshake, err: err}
}

// runFailure classifies a failed facts script: sudo refusing to run without a
// password is the common one on a fresh host.
func runFailure(err error, stderr string) *failure {
	stderr = strings.TrimSpace(stderr)
	var exit *ssh.ExitError
	if errors.As(err, &exit) {
		switch {
		case strings.Contains(stderr, "sudo: a password is required"),
			strings.Contains(stderr, "sudo: a terminal is required"),
			strings.Contains(stderr, "is not in the sudoers file"),
			strings.Contains(stderr, "is not allowed to execute"):
			return &failure{kind: failSudo, err: err}
		case exit.ExitStatus() == 127 && strings.Contains(stderr, "sudo"):
			return &failure{kind: failNoSudo, err: err}
		}
	}
	return &failure{kind: failFacts, err: fmt.Errorf("reading facts: %w: %s", err, stderr)}
}

// probeAddress opens one SSH connection and runs the facts script. Its
// failure says how far it got.
func probeAddress(ctx context.Context, t Target, hostPort string, pin ssh.PublicKey, o ProbeOptions) (_ *Facts, fail *failure) {
	defer func() {
		if fail != nil {
			fail.hostPort, fail.user = hostPort, t.User
			fail.addr, _, _ = net.SplitHostPort(hostPort)
		}
	}()
	var presented ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User: t.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(t.Signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			presented = key
			if pin == nil || !bytes.Equal(key.Marshal(), pin.Marshal()) {
				return errPinMismatch
			}
			return nil
		},
		// Offer only the pinned key's algorithm, as pulumi-command does, so the
		// probe and the commands see the same key. Unpinned: ask for ed25519 first.
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521},
		Timeout:           o.DialTimeout,
	}
	if pin != nil {
		cfg.HostKeyAlgorithms = []string{pin.Type()}
	}
	d := net.Dialer{Timeout: o.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return nil, dialFailure(err, o.DialTimeout)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(o.Timeout))
	c, chans, reqs, err := ssh.NewClientConn(conn, hostPort, cfg)
	if err != nil {
		fail := handshakeFailure(err, o.Timeout)
		if fail.kind == failHostKey {
			fail.presented = presented
		}
		return nil, fail
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return nil, &failure{kind: failFacts, err: fmt.Errorf("opening session: %w", err)}
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if err := sess.Run(shell.Sudo("homelab-facts", factsScript)); err != nil {
		return nil, runFailure(err, stderr.String())
	}
	f := &Facts{}
	if err := json.Unmarshal(stdout.Bytes(), f); err != nil {
		return nil, &failure{kind: failFacts, err: fmt.Errorf("parsing facts: %w", err)}
	}
	f.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(presented)))
	return f, nil
}

// check refuses hosts this project cannot provision, before anything changes.
func (f *Facts) check() error {
	switch {
	case len(f.MachineID) != 32:
		return fmt.Errorf("/etc/machine-id is %q, not a 32-digit id: run systemd-machine-id-setup on the host", f.MachineID)
	case f.OSID != "debian" && f.OSID != "ubuntu":
		return fmt.Errorf("OS %q is not supported: expected debian or ubuntu", f.OSID)
	case f.Arch != "x86_64" && f.Arch != "aarch64":
		return fmt.Errorf("architecture %q is not supported: expected x86_64 or aarch64", f.Arch)
	case f.NetworkStack == "":
		return errors.New("no supported network stack found (netplan, NetworkManager, systemd-networkd or ifupdown)")
	case f.Interface == "" || f.MAC == "":
		return errors.New("no default route: cannot tell which interface to give the static address")
	case f.InterfaceKind != KindEthernet && f.InterfaceKind != KindVeth:
		// The static-IP step writes plain Ethernet configuration; on a bridge,
		// bond, VLAN or Wi-Fi link it would drop the host off the network.
		return fmt.Errorf("default interface %s is %s, which is not supported yet: only plain Ethernet is", f.Interface, kindName(f.InterfaceKind))
	}
	return nil
}

// kindName is an interface kind as a phrase.
func kindName(kind string) string {
	switch kind {
	case KindBridge:
		return "a bridge"
	case KindBond:
		return "a bond"
	case KindVLAN:
		return "a VLAN"
	case KindWifi:
		return "a Wi-Fi interface"
	case "":
		return "of unknown kind"
	}
	return "of kind " + kind
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
