package remotenode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
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

// probe tries each address of t in order and reads the facts from the first
// that answers.
func probe(ctx context.Context, t Target, o ProbeOptions) (*Facts, *PinNeeded, error) {
	var pin ssh.PublicKey
	if t.HostKey != "" {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(t.HostKey))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: parsing pinned host key: %w", t.Name, err)
		}
		pin = k
	}
	var failures []string
	for _, addr := range dedupe(t.Addresses) {
		hostPort := net.JoinHostPort(addr, strconv.Itoa(t.Port))
		f, presented, connected, err := probeAddress(ctx, t, hostPort, pin, o)
		switch {
		case err == nil:
			f.ReachedAt = addr
			return f, nil, nil
		case presented != nil && errors.Is(err, errPinMismatch):
			return nil, &PinNeeded{
				Index: t.Index, Name: t.Name, Address: addr,
				Key:     strings.TrimSpace(string(ssh.MarshalAuthorizedKey(presented))),
				Changed: pin != nil,
			}, nil
		case connected:
			// The host answered; trying another address would not help.
			return nil, nil, fmt.Errorf("%s: at %s: %w", t.Name, hostPort, err)
		}
		failures = append(failures, fmt.Sprintf("%s: %v", hostPort, err))
	}
	return nil, nil, fmt.Errorf("%s: unreachable over SSH (%s); if the host is dead, mark it with pulumi config set --path 'nodes[%d].down' true",
		t.Name, strings.Join(failures, "; "), t.Index)
}

// probeAddress opens one SSH connection and runs the facts script. presented
// is the host key the server offered, when the handshake got that far;
// connected says the handshake and login succeeded.
func probeAddress(ctx context.Context, t Target, hostPort string, pin ssh.PublicKey, o ProbeOptions) (f *Facts, presented ssh.PublicKey, connected bool, err error) {
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
		return nil, nil, false, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(o.Timeout))
	c, chans, reqs, err := ssh.NewClientConn(conn, hostPort, cfg)
	if err != nil {
		if errors.Is(err, errPinMismatch) {
			return nil, presented, false, errPinMismatch
		}
		return nil, presented, false, fmt.Errorf("ssh handshake as %s: %w", t.User, err)
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return nil, presented, true, fmt.Errorf("opening session: %w", err)
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if err := sess.Run(shell.Sudo("homelab-facts", factsScript)); err != nil {
		return nil, presented, true, fmt.Errorf("reading facts: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	f = &Facts{}
	if err := json.Unmarshal(stdout.Bytes(), f); err != nil {
		return nil, presented, true, fmt.Errorf("parsing facts: %w", err)
	}
	f.HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(presented)))
	if err := f.check(); err != nil {
		return nil, presented, true, err
	}
	return f, presented, true, nil
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
