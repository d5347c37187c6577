package hosts

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Attach rebuilds a lab's Network and Hosts from what Docker and the hosts' disks say,
// for a process other than the one that created it (scripts/lab). userKeyPEM is the
// installer key written at creation; nil leaves Signer and PrivateKeyPEM empty.
func Attach(ctx context.Context, lab string, userKeyPEM []byte) (*Network, error) {
	n := &Network{lab: lab, name: "homelab-lab-" + lab}
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
			`{{index .Config.Labels "`+Label+`.host"}} {{index .Config.Labels "`+Label+`.stack"}} {{with index .NetworkSettings.Networks "`+n.name+`"}}{{.IPAMConfig.IPv4Address}}{{end}}`, c)
		if err != nil {
			return nil, fmt.Errorf("attaching to lab %s: %w", lab, err)
		}
		f := strings.Fields(out)
		if len(f) != 3 {
			continue // not a host (an image build)
		}
		ip, err := netip.ParseAddr(f[2])
		if err != nil {
			return nil, fmt.Errorf("attaching to lab %s: host %s: %w", lab, f[0], err)
		}
		h := &Host{n: n, name: f[0], stack: Stack(f[1]), ip: ip, container: c}
		if b, err := h.ReadFile(ctx, "/etc/machine-id"); err == nil {
			h.machineID = strings.TrimSpace(string(b))
		}
		if b, err := h.ReadFile(ctx, "/etc/ssh/ssh_host_ed25519_key.pub"); err == nil {
			if pub, _, _, _, err := ssh.ParseAuthorizedKey(b); err == nil {
				h.hostKey = keyPair{public: pub, authorized: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))}
			}
		}
		n.hosts = append(n.hosts, h)
	}
	slices.SortFunc(n.hosts, func(a, b *Host) int { return a.ip.Compare(b.ip) })
	return n, nil
}
