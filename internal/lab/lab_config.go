package lab

import (
	"fmt"
	"net/netip"

	"github.com/homeslice/homelab/internal/lab/hosts"
)

// NodesConfig is the home program's `nodes` config for lab hosts, as a person
// writes it for theirs: name, install-time address, user, the static address the
// lab reserves for the i-th host (Network.StaticAddress) and the gateway. No host
// key: the first preview prints the lines that pin them.
func NodesConfig(n *hosts.Network, hs []*hosts.Host) []map[string]any {
	nodes := make([]map[string]any, 0, len(hs))
	for i, h := range hs {
		nodes = append(nodes, map[string]any{
			"name":          h.Name(),
			"address":       h.IP().String(),
			"user":          h.User(),
			"staticAddress": netip.PrefixFrom(n.StaticAddress(i), n.Subnet().Bits()).String(),
			"gateway":       n.Gateway().String(),
		})
	}
	return nodes
}

// WriteNodesConfig writes NodesConfig for the lab's hosts and sets the installer's
// SSH private key as the secret `sshPrivateKey`: the home program's config for
// bare hosts.
func (l *Lab) WriteNodesConfig() {
	l.t.Helper()
	var hs []*hosts.Host
	for _, n := range l.nodes {
		hs = append(hs, n.h)
	}
	l.WriteConfig(map[string]any{"nodes": NodesConfig(l.Network, hs)})
	l.ConfigSetSecret("sshPrivateKey", string(l.Network.PrivateKeyPEM()))
}

// PinLine is the line the home program prints for a node whose key is not pinned.
func (n *Node) PinLine() string {
	return fmt.Sprintf("pulumi config set --path 'nodes[%d].hostKey' '%s'", n.i, n.HostKey())
}

// Pin runs the node's pin line, as a person does after checking the key on the
// host's console.
func (n *Node) Pin() {
	n.l.t.Helper()
	n.l.ConfigSet(fmt.Sprintf("nodes[%d].hostKey", n.i), n.HostKey())
}
