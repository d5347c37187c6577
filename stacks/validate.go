package stacks

import (
	"fmt"
	"net/netip"
	"path"
	"strings"

	"github.com/robfig/cron/v3"
	"golang.org/x/crypto/ssh"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Problem is one thing wrong with the configuration, at a config path such as
// nodes[1].address.
type Problem struct {
	Path string
	Msg  string
}

func (p Problem) String() string { return p.Path + ": " + p.Msg }

// Problems is every problem found in one pass; it is the error a bad stack
// fails with before any resource is declared.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	noun := "problems"
	if len(ps) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(&b, "invalid configuration, nothing was changed (%d %s):", len(ps), noun)
	for _, p := range ps {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Validate checks a decoded, defaulted configuration and returns every
// problem, in config order.
//
// Each section's checks sit beside its type (config_nodes.go,
// config_apps.go, …). The checks that hold one section against another —
// addresses and host keys used twice, names taken by a node — are at the end
// of this file; a section calls them where it reaches the key, so problems
// stay in config order.
func Validate(c *Config) Problems {
	v := &validator{c: c, ips: map[netip.Addr]string{}, others: otherAddresses(c), pins: map[string]int{}}
	v.nodes()
	v.cluster()
	v.system()
	v.registry()
	v.networkController()
	v.devices()
	v.apps()
	v.backups()
	v.secrets()
	return v.probs
}

type validator struct {
	c     *Config
	probs Problems
	// ips records which path first claimed each address, to report duplicates.
	ips map[netip.Addr]string
	// others is otherAddresses(c).
	others map[netip.Addr]string
	// pins records which node first pinned each host key.
	pins map[string]int
}

func (v *validator) add(path, format string, args ...any) {
	v.probs = append(v.probs, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// ipv4 parses an IPv4 host address, reporting the problem at path.
func (v *validator) ipv4(path, s string) (netip.Addr, bool) {
	if s == "" {
		v.add(path, "is required: an IPv4 address such as 192.168.1.20")
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		v.add(path, "%q is not an IPv4 address", s)
		return netip.Addr{}, false
	}
	if a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		v.add(path, "%q is not a host address", s)
		return netip.Addr{}, false
	}
	return a, true
}

func (v *validator) label(path, s, what string) bool {
	if s == "" {
		v.add(path, "is required: %s", what)
		return false
	}
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		v.add(path, "%q is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)", s)
		return false
	}
	return true
}

func (v *validator) cron(path, s string) {
	if _, err := cron.ParseStandard(s); err != nil {
		v.add(path, "%q is not a cron schedule (5 fields: minute hour day-of-month month day-of-week, or @daily/@hourly/…): %v", s, err)
	}
}

func (v *validator) port(path string, p int, allowZero bool) {
	if allowZero && p == 0 {
		return
	}
	if p < 1 || p > 65535 {
		v.add(path, "%d is not a port (1-65535)", p)
	}
}

func (v *validator) absPath(p, s string) {
	if s == "" {
		v.add(p, "is required: an absolute path")
		return
	}
	if !path.IsAbs(s) || path.Clean(s) != s {
		v.add(p, "%q is not a clean absolute path", s)
	}
}

// firstIndex reports the index at which key was first seen, or records it as
// seen at i.
func firstIndex[K comparable](seen map[K]int, key K, i int) (int, bool) {
	if j, dup := seen[key]; dup {
		return j, true
	}
	seen[key] = i
	return 0, false
}

func (v *validator) nodeNames() []string {
	var names []string
	for _, n := range v.c.Nodes {
		names = append(names, n.Name)
	}
	return names
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// The checks across sections.

// claim reports an address already used by another path: the nodes' static
// addresses, the network controller and the devices claim theirs in that
// order.
func (v *validator) claim(path string, a netip.Addr) {
	if prev, ok := v.ips[a]; ok {
		v.add(path, "%s is already used by %s", a, prev)
		return
	}
	v.ips[a] = path
}

// otherAddresses maps every address a node's install-time address or gateway
// must not be, read without reporting (each key reports its own problems), to
// its path: the nodes' static and install-time addresses, the devices and the
// network controller.
func otherAddresses(c *Config) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	put := func(s, path string) {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			if _, taken := out[a]; !taken {
				out[a] = path
			}
		}
	}
	for i, n := range c.Nodes {
		if pr, err := netip.ParsePrefix(n.StaticAddress); err == nil {
			put(pr.Addr().String(), fmt.Sprintf("nodes[%d].staticAddress", i))
		}
	}
	if nc := c.NetworkController; nc != nil {
		put(nc.Address, "networkController.address")
	}
	for _, name := range sortedMapKeys(c.Devices) {
		put(c.Devices[name], "devices."+name)
	}
	// Last: an install-time address equal to any of the above is reported
	// under that one's path.
	for i, n := range c.Nodes {
		put(n.Address, fmt.Sprintf("nodes[%d].address", i))
	}
	return out
}

// installAddressFree reports node's install-time address a when it is
// another node's static address, a device's or the controller's. A node's
// install-time address may be its own static address (once the lease is
// gone); anyone else's, and the probe reaches another host. Two install-time
// addresses alike are the nodes' own check.
func (v *validator) installAddressFree(node string, a netip.Addr) {
	if other, used := v.others[a]; used && other != node+".staticAddress" && !strings.HasSuffix(other, "].address") {
		v.add(node+".address", "%s is already used by %s", a, other)
	}
}

// gatewayNotANode reports node's gateway gw when it is another node's
// static or install-time address.
func (v *validator) gatewayNotANode(node string, gw netip.Addr) {
	if other, used := v.others[gw]; used && strings.HasPrefix(other, "nodes[") {
		v.add(node+".gateway", "%s is %s, another node's address, not a router", gw, other)
	}
}

// pinOnce reports a host key node i pins that an earlier node pinned too.
func (v *validator) pinOnce(node string, i int, key ssh.PublicKey) {
	if j, dup := firstIndex(v.pins, string(key.Marshal()), i); dup {
		v.add(node+".hostKey", "is already the pinned key of nodes[%d]: two hosts with one key are clones (on one of them: rm /etc/ssh/ssh_host_* && ssh-keygen -A, then pin its new key) or the pin was set on the wrong node", j)
	}
}

// hostsEntryNotANode reports a system.hosts entry at p named like a node.
func (v *validator) hostsEntryNotANode(p, name string) {
	for i, n := range v.c.Nodes {
		if n.Name == name {
			v.add(p, "%q is already the name of nodes[%d]: the managed /etc/hosts block lists every node at its static address", name, i)
		}
	}
}
