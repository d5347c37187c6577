package stacks

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Node is one host of the lab.
type Node struct {
	Name          string   `json:"name" doc:"node name and hostname, a DNS-1123 label"`
	Address       string   `json:"address" doc:"install-time SSH address (IPv4, may be a DHCP lease); the static-IP step always dials it"`
	Port          int      `json:"port" default:"22" doc:"SSH port"`
	User          string   `json:"user" doc:"SSH user with passwordless sudo"`
	HostKey       string   `json:"hostKey" doc:"pinned SSH host key in authorized_keys form (ssh-ed25519 or ecdsa-sha2-*); the first run prints the line that sets it"`
	StaticAddress string   `json:"staticAddress" doc:"static address in CIDR form (192.168.1.21/24); later steps dial it"`
	Gateway       string   `json:"gateway" doc:"default gateway, inside staticAddress's subnet"`
	DNS           []string `json:"dns" default:"[gateway]" doc:"DNS servers (IPv4)"`
	Role          string   `json:"role" default:"control-plane" doc:"control-plane or worker"`
	Down          bool     `json:"down" default:"false" doc:"the host is known to be dead: keep its resources as they are and plan nothing for it"`
}

// Roles a node can have.
const (
	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"
)

var userRe = regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`)

// nodes checks each node, and that no two share a name or an install-time
// address.
func (v *validator) nodes() {
	c := v.c
	if len(c.Nodes) == 0 {
		v.add("nodes", "is required: at least one node")
		return
	}
	names := map[string]int{}
	installs := map[netip.Addr]int{}
	for i := range c.Nodes {
		n := &c.Nodes[i]
		p := fmt.Sprintf("nodes[%d]", i)
		if v.label(p+".name", n.Name, "the node's name, a DNS-1123 label") {
			if j, dup := firstIndex(names, n.Name, i); dup {
				v.add(p+".name", "%q is already the name of nodes[%d]", n.Name, j)
			}
		}
		if a, ok := v.ipv4(p+".address", n.Address); ok {
			if j, dup := firstIndex(installs, a, i); dup {
				v.add(p+".address", "%s is already the address of nodes[%d]", a, j)
			}
			v.installAddressFree(p, a)
		}
		v.port(p+".port", n.Port, false)
		if n.User == "" {
			v.add(p+".user", "is required: the SSH user (with passwordless sudo)")
		} else if !userRe.MatchString(n.User) {
			v.add(p+".user", "%q is not a user name", n.User)
		}
		if key, ok := v.hostKey(p+".hostKey", n.HostKey); ok {
			v.pinOnce(p, i, key)
		}
		prefix := v.staticAddress(p, n)
		v.gateway(p, n, prefix)
		v.dns(p, n, prefix)
		if n.Role != RoleControlPlane && n.Role != RoleWorker {
			v.add(p+".role", "%q is not a role: expected control-plane or worker", n.Role)
		}
	}
}

// staticAddress checks the node's static address and claims it; it returns
// the node's subnet, or the zero (invalid) prefix when the address is bad.
func (v *validator) staticAddress(p string, n *Node) netip.Prefix {
	if n.StaticAddress == "" {
		v.add(p+".staticAddress", "is required: the static address in CIDR form, such as 192.168.1.21/24")
	} else if pr, err := netip.ParsePrefix(n.StaticAddress); err != nil || !pr.Addr().Is4() {
		v.add(p+".staticAddress", "%q is not an IPv4 address in CIDR form, such as 192.168.1.21/24", n.StaticAddress)
	} else if pr.Bits() < 8 || pr.Bits() > 30 {
		v.add(p+".staticAddress", "prefix length /%d is outside /8../30", pr.Bits())
	} else if a := pr.Addr(); a == pr.Masked().Addr() || a == broadcast(pr) {
		v.add(p+".staticAddress", "%s is the network or broadcast address of %s", a, pr.Masked())
	} else {
		v.claim(p+".staticAddress", a)
		return pr
	}
	return netip.Prefix{}
}

// gateway checks that the node's gateway is a router inside its subnet
// (prefix, when valid).
func (v *validator) gateway(p string, n *Node, prefix netip.Prefix) {
	gw, ok := v.ipv4(p+".gateway", n.Gateway)
	if !ok || !prefix.IsValid() {
		return
	}
	switch {
	case !prefix.Contains(gw):
		v.add(p+".gateway", "%s is outside the node's subnet %s", gw, prefix.Masked())
	case gw == prefix.Masked().Addr():
		v.add(p+".gateway", "%s is the network address of %s, not a router", gw, prefix.Masked())
	case gw == broadcast(prefix):
		v.add(p+".gateway", "%s is the broadcast address of %s, not a router", gw, prefix.Masked())
	case gw == prefix.Addr():
		v.add(p+".gateway", "%s is the node's own address", gw)
	case gw.String() == n.Address:
		v.add(p+".gateway", "%s is the node's own install-time address (%s.address)", gw, p)
	default:
		v.gatewayNotANode(p, gw)
	}
}

// dns checks the node's DNS servers: upstream ones, each listed once.
func (v *validator) dns(p string, n *Node, prefix netip.Prefix) {
	dns := map[netip.Addr]int{}
	for j, d := range n.DNS {
		dp := fmt.Sprintf("%s.dns[%d]", p, j)
		a, ok := v.ipv4(dp, d)
		if !ok {
			continue
		}
		switch k, dup := firstIndex(dns, a, j); {
		case a.IsLoopback():
			v.add(dp, "%s is a loopback address: give the upstream DNS servers (the node's own resolver forwards to them, and CoreDNS loops on a loopback one)", a)
		case dup:
			v.add(dp, "%s is already %s.dns[%d]", a, p, k)
		case prefix.IsValid() && a == prefix.Addr():
			v.add(dp, "%s is the node's own address, where no DNS server runs: give the upstream DNS servers", a)
		}
	}
}

// staticPrefix is the node's static address as a prefix, when it parses as
// IPv4 CIDR.
func (n *Node) staticPrefix() (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(n.StaticAddress)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, false
	}
	return p, true
}

func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n |= host
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// hostKey accepts an empty pin (the run stops later with the line that sets
// it) or an ed25519/ecdsa key in authorized_keys form, which it returns.
func (v *validator) hostKey(p, s string) (ssh.PublicKey, bool) {
	if s == "" {
		return nil, false
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		v.add(p, "is not a public key in authorized_keys form (\"ssh-ed25519 AAAA…\"): %v", err)
		return nil, false
	}
	switch t := key.Type(); {
	case t == ssh.KeyAlgoED25519, strings.HasPrefix(t, "ecdsa-sha2-"):
		return key, true
	case t == ssh.KeyAlgoRSA:
		v.add(p, "is an ssh-rsa key: pulumi-command offers only the pinned key's algorithm and current OpenSSH refuses ssh-rsa signatures, so pin the host's ed25519 key (ssh-keyscan -t ed25519 <host>)")
	default:
		v.add(p, "is a %s key: pin the host's ed25519 or ecdsa key", t)
	}
	return nil, false
}
