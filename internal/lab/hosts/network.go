// Package hosts runs the lab's test hosts: Debian bookworm containers on the machine's
// Docker engine, each with its own address on a private Docker network, systemd as
// PID 1, a real sshd (key auth, a passwordless-sudo user) and NET_ADMIN, so that
// addresses can be added and moved. Every host gets a fresh machine-id and ed25519 host
// key when created, generated here so that callers know the key to pin.
//
// Hosts can lose power (Stop), come back (Start), be cut off the network (Partition,
// Heal) and have their disk die and the OS reinstalled (Reinstall: same address, new
// machine-id and host key).
//
// Everything the package creates is labelled homelab.lab=<lab id>; images are a cache
// shared by every lab and keyed by their content.
package hosts

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/netip"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// Label is the Docker label on every container and network a lab creates; its value
// is the lab id.
const Label = "homelab.lab"

// Address plan of a lab's /24 (offsets from the network address):
//
//	.1         the gateway: the machine itself (the control plane listens here)
//	.10-.99    free for static addresses scenarios assign (StaticAddress)
//	.101-.127  the hosts' install-time addresses, in creation order (with DHCP, the
//	           DHCP server's range, every address reserved for one MAC: macFor)
//	.128-.255  Docker's own allocations (--ip-range), away from both
const (
	staticBase  = 10
	staticCount = 90
	hostBase    = 101
	hostCount   = 27
)

// Options configure a lab network.
type Options struct {
	// Lab is the lab id that names and labels everything; default a random one.
	Lab string
	// Subnet is the network's /24; default a free one in 10.213.0.0/16.
	Subnet netip.Prefix
	// Log receives progress lines (image builds); nil discards them.
	Log io.Writer
	// DHCP runs a DHCP server (dnsmasq) on the lab's bridge, and every host's installer
	// configures eth0 by DHCP instead of a static address (see dhcp.go).
	DHCP bool
}

// Network is one lab: a private Docker network, its hosts, and the SSH key the
// installer authorised on every host.
type Network struct {
	lab     string
	name    string
	subnet  netip.Prefix
	gateway netip.Addr
	user    keyPair
	log     io.Writer

	dhcp *dhcpServer // nil without Options.DHCP

	mu        sync.Mutex
	hosts     []*Host
	apiServer netip.AddrPort
}

// NewNetwork creates the Docker network of a new lab (its bridge on the machine is
// hl-<lab id>) and, with Options.DHCP, starts its DHCP server.
func NewNetwork(ctx context.Context, opts Options) (*Network, error) {
	lab := opts.Lab
	if lab == "" {
		b := make([]byte, 3)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("generating lab id: %w", err)
		}
		lab = hex.EncodeToString(b)
	}
	if len(bridgeName(lab)) > 15 {
		return nil, fmt.Errorf("creating lab network: lab id %q is longer than 12 characters (its bridge %s would exceed 15)", lab, bridgeName(lab))
	}
	user, err := newKeyPair(DefaultUser + "@homelab-lab-" + lab)
	if err != nil {
		return nil, err
	}
	n := &Network{lab: lab, name: "homelab-lab-" + lab, user: user, log: opts.Log}
	if n.log == nil {
		n.log = io.Discard
	}
	subnets := []netip.Prefix{opts.Subnet}
	if !opts.Subnet.IsValid() {
		subnets = randomSubnets(8)
	}
	var errs []error
	for _, s := range subnets {
		if s.Bits() != 24 || !s.Addr().Is4() {
			return nil, fmt.Errorf("creating lab network: subnet %s is not an IPv4 /24", s)
		}
		s = s.Masked()
		gw := offset(s, 1)
		_, err := docker(ctx, nil, "network", "create", "--driver", "bridge",
			"--subnet", s.String(), "--gateway", gw.String(),
			"--ip-range", netip.PrefixFrom(offset(s, 128), 25).String(),
			"-o", "com.docker.network.bridge.name="+bridgeName(lab),
			"--label", Label+"="+lab, n.name)
		if err == nil {
			n.subnet, n.gateway = s, gw
			if opts.DHCP {
				if n.dhcp, err = startDHCP(n); err != nil {
					_ = Remove(ctx, lab)
					return nil, fmt.Errorf("creating lab network %s: the DHCP server: %w", n.name, err)
				}
				registerDHCP(lab, n.dhcp)
			}
			return n, nil
		}
		errs = append(errs, err)
		if !strings.Contains(err.Error(), "overlap") {
			break
		}
	}
	return nil, fmt.Errorf("creating lab network %s: %w", n.name, errors.Join(errs...))
}

func randomSubnets(count int) []netip.Prefix {
	out := make([]netip.Prefix, 0, count)
	for range count {
		i, err := rand.Int(rand.Reader, big.NewInt(256))
		if err != nil {
			continue
		}
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, byte(i.Int64()), 0}), 24))
	}
	return out
}

func offset(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr().As4()
	a[3] += byte(n)
	return netip.AddrFrom4(a)
}

// Lab returns the lab id.
func (n *Network) Lab() string { return n.lab }

// Name returns the Docker network name.
func (n *Network) Name() string { return n.name }

// Subnet returns the lab's /24.
func (n *Network) Subnet() netip.Prefix { return n.subnet }

// Gateway returns the gateway address: the machine itself, reachable from every host.
func (n *Network) Gateway() netip.Addr { return n.gateway }

// StaticAddress returns the i-th address (0-based) of the band scenarios may assign
// as static addresses: outside Docker's allocations and the hosts' install-time ones.
func (n *Network) StaticAddress(i int) netip.Addr {
	if i < 0 || i >= staticCount {
		panic(fmt.Sprintf("static address index %d out of range", i))
	}
	return offset(n.subnet, staticBase+i)
}

// User returns the installer's user name on every host.
func (n *Network) User() string { return DefaultUser }

// Signer returns the SSH signer of the key authorised on every host.
func (n *Network) Signer() ssh.Signer { return n.user.signer }

// PrivateKeyPEM returns that key in OpenSSH PEM form (what pulumi-command takes).
func (n *Network) PrivateKeyPEM() []byte { return n.user.private }

// AuthorizedKey returns that key's public half in authorized_keys form.
func (n *Network) AuthorizedKey() string { return n.user.authorized }

// Hosts returns the hosts in creation order.
func (n *Network) Hosts() []*Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*Host(nil), n.hosts...)
}

// Host returns the host with this name, or nil.
func (n *Network) Host(name string) *Host {
	for _, h := range n.Hosts() {
		if h.name == name {
			return h
		}
	}
	return nil
}

// NewHosts creates count hosts named node<i> (continuing the numbering) in parallel;
// node1 gets the first address of the hosts' band, node2 the next, and so on.
func (n *Network) NewHosts(ctx context.Context, count int, stack Stack) ([]*Host, error) {
	return n.NewHostsWith(ctx, count, HostOptions{Stack: stack})
}

// NewHostsWith is NewHosts with every host made with opts (its Address ignored).
func (n *Network) NewHostsWith(ctx context.Context, count int, opts HostOptions) ([]*Host, error) {
	if opts.Stack == "" {
		opts.Stack = Netplan
	}
	opts.Address = netip.Addr{}
	out := make([]*Host, count)
	for i := range count {
		h, err := n.reserve(fmt.Sprintf("node%d", len(n.Hosts())+1), opts)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	errs := make([]error, count)
	var wg sync.WaitGroup
	for i, h := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.create(ctx); err != nil {
				errs[i] = fmt.Errorf("creating host %s: %w", h.name, err)
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// HostOptions configure one host.
type HostOptions struct {
	// Stack is the network stack; default Netplan.
	Stack Stack
	// Address is the install-time address; default the next free one of the hosts' band.
	Address netip.Addr
	// CloudInit gives the host cloud-init's network layout (netplan only): a
	// 50-cloud-init.yaml naming the interface with match and set-name, a second
	// interface in the same file, and /etc/cloud.
	CloudInit bool
}

// NewHost creates and boots a host and returns once it accepts SSH with its pinned key.
func (n *Network) NewHost(ctx context.Context, name string, opts HostOptions) (*Host, error) {
	h, err := n.reserve(name, opts)
	if err != nil {
		return nil, err
	}
	if err := h.create(ctx); err != nil {
		return nil, fmt.Errorf("creating host %s: %w", name, err)
	}
	return h, nil
}

// reserve adds a host with its name and address to the lab, not yet created.
func (n *Network) reserve(name string, opts HostOptions) (*Host, error) {
	if opts.Stack == "" {
		opts.Stack = Netplan
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	addr := opts.Address
	if !addr.IsValid() {
		addr = n.nextAddress()
	}
	if !addr.IsValid() || !n.subnet.Contains(addr) {
		return nil, fmt.Errorf("creating host %s: no address available in %s", name, n.subnet)
	}
	if n.dhcp != nil && !inHostBand(n.subnet, addr) {
		return nil, fmt.Errorf("creating host %s: %s is outside the hosts' band, which the DHCP server's reservations cover", name, addr)
	}
	for _, o := range n.hosts {
		if o.name == name || o.ip == addr {
			return nil, fmt.Errorf("creating host %s: name or address %s already in use", name, addr)
		}
	}
	h := &Host{n: n, name: name, ip: addr, stack: opts.Stack, cloudInit: opts.CloudInit, container: n.name + "-" + name}
	n.hosts = append(n.hosts, h)
	return h, nil
}

// nextAddress returns the first unused address of the hosts' band; n.mu is held.
func (n *Network) nextAddress() netip.Addr {
	used := map[netip.Addr]bool{}
	for _, h := range n.hosts {
		used[h.ip] = true
	}
	for i := range hostCount {
		if a := offset(n.subnet, hostBase+i); !used[a] {
			return a
		}
	}
	return netip.Addr{}
}

func inHostBand(subnet netip.Prefix, a netip.Addr) bool {
	return !a.Less(offset(subnet, hostBase)) && !offset(subnet, hostBase+hostCount-1).Less(a)
}

// ForwardAPIServer makes every host, present and future, forward its port 16443 to
// target (the lab API server), as a microk8s node serves its API server there. A
// scenario can stop the forwarding on one host with
// `systemctl stop lab-apiserver.socket lab-apiserver.service`.
func (n *Network) ForwardAPIServer(ctx context.Context, target netip.AddrPort) error {
	n.mu.Lock()
	n.apiServer = target
	n.mu.Unlock()
	var errs []error
	for _, h := range n.Hosts() {
		if err := h.applyForward(ctx, target); err != nil {
			errs = append(errs, fmt.Errorf("%s: forwarding the API server: %w", h.name, err))
		}
	}
	return errors.Join(errs...)
}

func (n *Network) apiTarget() netip.AddrPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.apiServer
}

// Close removes every container and the network of this lab, and stops its DHCP server.
func (n *Network) Close(ctx context.Context) error {
	return Remove(ctx, n.lab)
}

// Remove deletes every container and network labelled with lab id lab, and nothing
// else, and stops the lab's DHCP server if this process runs it.
func Remove(ctx context.Context, lab string) error {
	stopDHCP(lab)
	var errs []error
	ids, err := docker(ctx, nil, "ps", "-aq", "--filter", "label="+Label+"="+lab)
	if err != nil {
		errs = append(errs, err)
	}
	if ids = strings.TrimSpace(ids); ids != "" {
		args := append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)
		if _, err := docker(ctx, nil, args...); err != nil {
			errs = append(errs, err)
		}
	}
	nets, err := docker(ctx, nil, "network", "ls", "-q", "--filter", "label="+Label+"="+lab)
	if err != nil {
		errs = append(errs, err)
	}
	for _, id := range strings.Fields(nets) {
		if _, err := docker(ctx, nil, "network", "rm", id); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("removing lab %s: %w", lab, err)
	}
	return nil
}

// MakeDir creates a directory on the named host; with RemoveDir it lets the control
// plane's storage provisioner make hostpath volumes on lab hosts.
func (n *Network) MakeDir(ctx context.Context, host, dir string) error {
	h := n.Host(host)
	if h == nil {
		return fmt.Errorf("making %s: no host %s in lab %s", dir, host, n.lab)
	}
	_, err := h.Exec(ctx, "mkdir -p -m 0777 "+shellQuote(dir))
	return err
}

// RemoveDir deletes a directory tree on the named host.
func (n *Network) RemoveDir(ctx context.Context, host, dir string) error {
	h := n.Host(host)
	if h == nil {
		return fmt.Errorf("removing %s: no host %s in lab %s", dir, host, n.lab)
	}
	_, err := h.Exec(ctx, "rm -rf -- "+shellQuote(dir))
	return err
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
