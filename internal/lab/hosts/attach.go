package hosts

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Attach rebuilds a lab's Network and Hosts from what Docker and the hosts' disks say,
// for a process other than the one that created it (scripts/lab). userKeyPEM is the
// installer key written at creation; nil leaves Signer and PrivateKeyPEM empty, and
// then a host cannot be reinstalled or waited for over SSH. Attach also reads back the
// API server forwarding (so that a reinstalled host gets it again) and, for running
// hosts, a partition; a stopped host's partition is not on its disk, and the caller
// that recorded it applies it with Partition before Start.
//
// Attach does not support DHCP labs (Options.DHCP): their DHCP server is a child of the
// process that created the lab and stops with it, and an attached Network has none, so
// a host it reinstalls would get the static installer config. scripts/lab makes only
// static labs.
func Attach(ctx context.Context, lab string, userKeyPEM []byte) (*Network, error) {
	n := &Network{lab: lab, name: "homelab-lab-" + lab, log: io.Discard}
	out, err := docker(ctx, nil, "network", "inspect", "--format",
		"{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}", n.name)
	if err != nil {
		return nil, fmt.Errorf("attaching to lab %s: %w", lab, err)
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return nil, fmt.Errorf("attaching to lab %s: network %s has IPAM config %q", lab, n.name, out)
	}
	if n.subnet, err = netip.ParsePrefix(f[0]); err != nil {
		return nil, fmt.Errorf("attaching to lab %s: %w", lab, err)
	}
	if n.gateway, err = netip.ParseAddr(f[1]); err != nil {
		return nil, fmt.Errorf("attaching to lab %s: %w", lab, err)
	}
	if userKeyPEM != nil {
		signer, err := ssh.ParsePrivateKey(userKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("attaching to lab %s: reading the user key: %w", lab, err)
		}
		n.user = keyPair{private: userKeyPEM, public: signer.PublicKey(), signer: signer,
			authorized: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))}
	}
	names, err := docker(ctx, nil, "ps", "-a", "--filter", "label="+Label+"="+lab, "--format", "{{.Names}}")
	if err != nil {
		return nil, fmt.Errorf("attaching to lab %s: %w", lab, err)
	}
	for _, c := range strings.Fields(names) {
		out, err := docker(ctx, nil, "inspect", "--format",
			`{{index .Config.Labels "`+Label+`.host"}} {{index .Config.Labels "`+Label+`.stack"}} {{with index .NetworkSettings.Networks "`+n.name+`"}}{{.IPAMConfig.IPv4Address}}{{end}} {{index .Config.Labels "`+Label+`.cloudinit"}}`, c)
		if err != nil {
			return nil, fmt.Errorf("attaching to lab %s: %w", lab, err)
		}
		f := strings.Fields(out)
		if len(f) < 3 {
			continue // not a host (an image build)
		}
		ip, err := netip.ParseAddr(f[2])
		if err != nil {
			return nil, fmt.Errorf("attaching to lab %s: host %s: %w", lab, f[0], err)
		}
		h := &Host{n: n, name: f[0], stack: Stack(f[1]), ip: ip, container: c, cloudInit: len(f) > 3 && f[3] == "true"}
		if b, err := h.ReadFile(ctx, "/etc/machine-id"); err == nil {
			h.machineID = strings.TrimSpace(string(b))
		}
		if b, err := h.ReadFile(ctx, "/etc/ssh/ssh_host_ed25519_key.pub"); err == nil {
			if pub, _, _, _, err := ssh.ParseAuthorizedKey(b); err == nil {
				h.hostKey = keyPair{public: pub, authorized: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))}
			}
		}
		if !n.apiServer.IsValid() {
			if b, err := h.ReadFile(ctx, "/"+forwardUnit); err == nil {
				n.apiServer, _ = forwardTarget(string(b))
			}
		}
		if h.Running(ctx) {
			if on, err := h.partitionActive(ctx); err == nil {
				h.partitioned = on
			}
		}
		n.hosts = append(n.hosts, h)
	}
	slices.SortFunc(n.hosts, func(a, b *Host) int { return a.ip.Compare(b.ip) })
	return n, nil
}

// forwardTarget is the address the API server forwarding unit (forwardFiles) sends
// port 16443 to.
func forwardTarget(unit string) (netip.AddrPort, bool) {
	for _, line := range strings.Split(unit, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart="); ok {
			f := strings.Fields(rest)
			if len(f) != 2 {
				return netip.AddrPort{}, false
			}
			t, err := netip.ParseAddrPort(f[1])
			return t, err == nil
		}
	}
	return netip.AddrPort{}, false
}
