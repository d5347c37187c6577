package hosts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A DHCP lab (Options.DHCP) runs a real DHCP server on its network, as the LAN of a
// fresh server install has: Debian's dnsmasq on the machine, bound to the lab's bridge
// only, handing out the hosts' band with one reservation per address, so a host always
// gets the address Docker gives its eth0 (Host.IP). Docker still puts that address on
// eth0 when the container starts; a unit the installer leaves (dhcpFlushFiles) drops
// it before the network stack starts, so the host has only what its DHCP client gets.

// dhcpLease is the lease time the server offers.
const dhcpLease = time.Hour

// dhcpServer is one lab's dnsmasq, a child of this process.
type dhcpServer struct {
	dir  string // lease file, log
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// dhcpServers are the servers this process started, by lab id: Remove stops them.
var (
	dhcpMu      sync.Mutex
	dhcpServers = map[string]*dhcpServer{}
)

// bridgeName is the lab network's Linux bridge on the machine (at most 15 characters).
func bridgeName(lab string) string { return "hl-" + lab }

// macFor is the MAC address of the host with address ip: the one Docker Engine up to
// version 24 derives from the address itself (02:42 and the address's four bytes),
// given explicitly (--mac-address) where the engine's API allows, so that DHCP
// reservations can be written before any host exists and survive a reinstall.
func macFor(ip netip.Addr) string {
	a := ip.As4()
	return fmt.Sprintf("02:42:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3])
}

var macFlag struct {
	once sync.Once
	ok   bool
}

// macFlagSupported reports whether docker create takes --mac-address: the CLI sends it
// per network, which needs API 1.44 (Docker 25); against an older engine (whose own
// MAC is macFor's) the CLI refuses the flag.
func macFlagSupported(ctx context.Context) bool {
	macFlag.once.Do(func() {
		v, err := docker(ctx, nil, "version", "--format", "{{.Client.APIVersion}}")
		if err != nil {
			return
		}
		major, minor, _ := strings.Cut(v, ".")
		mi, err := strconv.Atoi(minor)
		macFlag.ok = err == nil && (major != "1" || mi >= 44)
	})
	return macFlag.ok
}

// startDHCP starts dnsmasq for n on its bridge: DHCP only (--port=0 turns DNS off),
// the hosts' band as the range, the gateway as the router, a reservation for every
// address of the band.
func startDHCP(n *Network) (*dhcpServer, error) {
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/dnsmasq"); serr != nil {
			return nil, fmt.Errorf("dnsmasq is not installed (apt-get install dnsmasq-base): %w", err)
		}
		bin = "/usr/sbin/dnsmasq"
	}
	dir, err := os.MkdirTemp("", "homelab-lab-"+n.lab+"-dhcp-")
	if err != nil {
		return nil, fmt.Errorf("creating the DHCP server's directory: %w", err)
	}
	first, last := offset(n.subnet, hostBase), offset(n.subnet, hostBase+hostCount-1)
	args := []string{
		"--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=",
		"--port=0",
		"--interface=" + bridgeName(n.lab), "--bind-interfaces",
		fmt.Sprintf("--dhcp-range=%s,%s,255.255.255.0,%ds", first, last, int(dhcpLease.Seconds())),
		"--dhcp-option=option:router," + n.gateway.String(),
		"--dhcp-authoritative",
		"--dhcp-leasefile=" + filepath.Join(dir, "leases"),
		"--log-facility=" + filepath.Join(dir, "dnsmasq.log"), "--log-dhcp",
	}
	for i := range hostCount {
		ip := offset(n.subnet, hostBase+i)
		args = append(args, "--dhcp-host="+macFor(ip)+","+ip.String())
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	// Its own process group, killed by the kernel if this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting dnsmasq: %w", err)
	}
	s := &dhcpServer{dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	// Serving once it logs that it started (after binding); an early exit says why.
	deadline := time.After(10 * time.Second)
	for {
		if b, _ := os.ReadFile(s.LogPath()); bytes.Contains(b, []byte("started, version")) {
			return s, nil
		}
		select {
		case <-s.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("dnsmasq exited: %v: %s", s.err, strings.TrimSpace(stderr.String()))
		case <-deadline:
			s.stop()
			return nil, errors.New("dnsmasq did not start within 10s")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// LogPath is dnsmasq's log (every DHCP exchange, --log-dhcp).
func (s *dhcpServer) LogPath() string { return filepath.Join(s.dir, "dnsmasq.log") }

// LeasePath is dnsmasq's lease file.
func (s *dhcpServer) LeasePath() string { return filepath.Join(s.dir, "leases") }

// stop ends dnsmasq (SIGTERM, then SIGKILL) and removes its directory.
func (s *dhcpServer) stop() {
	select {
	case <-s.done:
	default:
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	}
	os.RemoveAll(s.dir)
}

func registerDHCP(lab string, s *dhcpServer) {
	dhcpMu.Lock()
	defer dhcpMu.Unlock()
	dhcpServers[lab] = s
}

// stopDHCP stops the DHCP server this process runs for lab, if any.
func stopDHCP(lab string) {
	dhcpMu.Lock()
	s := dhcpServers[lab]
	delete(dhcpServers, lab)
	dhcpMu.Unlock()
	if s != nil {
		s.stop()
	}
}

// DHCP reports whether the lab's hosts get their install-time address by DHCP.
func (n *Network) DHCP() bool { return n.dhcp != nil }

// DHCPLog returns the path of the DHCP server's log; "" without DHCP.
func (n *Network) DHCPLog() string {
	if n.dhcp == nil {
		return ""
	}
	return n.dhcp.LogPath()
}

// Lease is one lease in the DHCP server's lease file.
type Lease struct {
	Expiry   time.Time
	MAC      string
	IP       netip.Addr
	Hostname string // "" when the client sent none
}

// Leases returns the leases the lab's DHCP server holds now.
func (n *Network) Leases() ([]Lease, error) {
	if n.dhcp == nil {
		return nil, fmt.Errorf("lab %s has no DHCP server", n.lab)
	}
	b, err := os.ReadFile(n.dhcp.LeasePath())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading the DHCP leases: %w", err)
	}
	var out []Lease
	// <expiry epoch> <mac> <ip> <hostname|*> <client id|*>
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		exp, err1 := strconv.ParseInt(f[0], 10, 64)
		ip, err2 := netip.ParseAddr(f[2])
		if err1 != nil || err2 != nil {
			continue // an IPv6 section's header, say
		}
		l := Lease{Expiry: time.Unix(exp, 0), MAC: f[1], IP: ip, Hostname: f[3]}
		if l.Hostname == "*" {
			l.Hostname = ""
		}
		out = append(out, l)
	}
	return out, nil
}

// dhcpFlushUnit is the path of the unit dhcpFlushFiles writes.
const dhcpFlushUnit = "etc/systemd/system/lab-dhcp-flush.service"

// dhcpFlushFiles drop, at every boot before the network stack starts, the address and
// routes Docker configured on eth0: left there, NetworkManager assumes them as an
// external connection and never runs DHCP, and dhclient (ifupdown) gets a lease but
// cannot add its address over the existing one, which stays with no lifetime.
func dhcpFlushFiles() []file {
	return []file{
		{path: dhcpFlushUnit, mode: 0o644, data: `[Unit]
Description=lab: drop the address Docker put on eth0, so that the host has only what DHCP gives it
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target systemd-networkd.service NetworkManager.service networking.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip -4 addr flush dev eth0
ExecStart=/sbin/ip -4 route flush dev eth0

[Install]
WantedBy=multi-user.target
`},
		{path: "etc/systemd/system/multi-user.target.wants/lab-dhcp-flush.service", link: "/" + dhcpFlushUnit},
	}
}

// dhcpNetworkConfig is the install-time configuration each stack's installer writes
// when the install got its address by DHCP: the same files as networkConfig's, asking
// for DHCP on eth0.
func dhcpNetworkConfig(stack Stack) ([]file, error) {
	switch stack {
	case Netplan:
		return []file{{path: "etc/netplan/50-installer.yaml", mode: 0o600, data: `network:
  version: 2
  renderer: networkd
  ethernets:
    eth0:
      dhcp4: true
`}}, nil
	case Networkd:
		return []file{{path: "etc/systemd/network/10-eth0.network", mode: 0o644, data: `[Match]
Name=eth0

[Network]
DHCP=ipv4
`}}, nil
	case NetworkManager:
		return []file{{path: "etc/NetworkManager/system-connections/eth0.nmconnection", mode: 0o600, data: `[connection]
id=eth0
type=ethernet
interface-name=eth0

[ipv4]
method=auto

[ipv6]
method=ignore
`}}, nil
	case Ifupdown:
		return []file{{path: "etc/network/interfaces", mode: 0o644, data: `source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp

# a second interface the installer configured, never brought up here
iface eth1 inet dhcp
`}}, nil
	}
	return nil, fmt.Errorf("unknown network stack %q", stack)
}
