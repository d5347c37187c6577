// Package netstack knows how each network stack a Debian or Ubuntu host may
// run gives an interface its addresses: which file, in which format, and how to
// load it. One Stack per kind, behind one interface (as k0sctl's configurers
// are per OS), so RemoteNode's static address and, later, the network
// controller's extra address are written the same way for every stack.
package netstack

import (
	"bytes"
	"embed"
	"fmt"
	"strconv"
	"text/template"

	"github.com/homeslice/homelab/internal/shell"
)

// Names of the stacks, as the facts probe reports them.
const (
	Netplan        = "netplan"
	NetworkManager = "networkmanager"
	Networkd       = "networkd"
	Ifupdown       = "ifupdown"
)

// Config is what a stack needs to give an interface its static address.
type Config struct {
	Interface string
	Address   string // CIDR
	Gateway   string
	DNS       []string
}

// Stack writes and loads one network stack's configuration of an interface.
// Every command it returns is shell, with the interface quoted.
type Stack interface {
	// Name is the stack's name, as the facts report it.
	Name() string
	// ConfigPath is the file that configures iface, and ConfigMode its mode.
	ConfigPath(iface string) string
	ConfigMode() string
	// Render is the content of that file for c.
	Render(c Config) string
	// Claim is what a step runs so that only its file configures the
	// interface, leaving every other interface's configuration alone.
	Claim(iface, mac string) Claim
	// Watch are the files whose change means the interface's configuration
	// may have changed under the step (a marker checks them).
	Watch() []string
	// DNSApplies is a shell condition, true when the stack's own DNS setting
	// reaches the resolver: networkd's DNS= needs systemd-resolved, ifupdown's
	// dns-nameservers needs resolvconf. Where it is false the step writes
	// /etc/resolv.conf itself.
	DNSApplies() string
	// Apply loads the configuration of iface; RollbackApply loads it again
	// after the previous files were restored.
	Apply(iface string) string
	RollbackApply(iface string) string
}

// Claim is shell for a step that writes the interface's configuration to
// "$desired" and then its own file. Empty fields: nothing to do.
type Claim struct {
	// Setup prepares the others (writes a helper to "$claim").
	Setup string
	// Carry edits "$desired" to keep how the host names the interface (netplan's
	// match and set-name), so a reboot still finds it.
	Carry string
	// Others prints the other files that define the interface now, one a line.
	Others string
	// Release removes the interface's definitions from those files.
	Release string
}

// helperSetup writes a claim helper script to a temporary "$claim".
func helperSetup(script string) string {
	return "claim=$(mktemp)\ncat >\"$claim\" <<'HOMELAB_CLAIM'\n" + script + "HOMELAB_CLAIM"
}

// For returns the stack called name.
func For(name string) (Stack, error) {
	switch name {
	case Netplan:
		return netplan{}, nil
	case Networkd:
		return networkd{}, nil
	case NetworkManager:
		return networkManager{}, nil
	case Ifupdown:
		return ifupdown{}, nil
	}
	return nil, fmt.Errorf("network stack %q is not supported", name)
}

//go:embed templates/*.tmpl
var templateFS embed.FS

//go:embed scripts/netplan-claim.py
var netplanClaim string

//go:embed scripts/ifupdown-claim.sh
var ifupdownClaim string

// templates are parsed once at start-up: a broken template fails every test
// rather than a deploy.
var templates = template.Must(template.New("").Funcs(template.FuncMap{"yamlString": strconv.Quote}).
	ParseFS(templateFS, "templates/*.tmpl"))

func render(name string, c Config) string {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, c); err != nil {
		panic(fmt.Sprintf("netstack: rendering %s: %v", name, err))
	}
	return b.String()
}

// netplan writes its own file last in netplan's order and moves the others
// aside; netplan renders it for networkd (or NetworkManager).
type netplan struct{}

func (netplan) Name() string             { return Netplan }
func (netplan) ConfigPath(string) string { return "/etc/netplan/60-homelab.yaml" }
func (netplan) ConfigMode() string       { return "0600" }
func (netplan) Render(c Config) string   { return render("netplan.yaml.tmpl", c) }
func (netplan) Watch() []string          { return []string{"/etc/netplan/*.yaml", "/etc/netplan/*.yml"} }

// Claim removes the interface's definitions from the other netplan files
// (cloud-init's 50-cloud-init.yaml, the installer's) with `netplan set`, which
// keeps every other interface, bond, bridge and Wi-Fi in them, and carries the
// match and set-name that name the interface into this step's file.
func (netplan) Claim(iface, mac string) Claim {
	args := shell.Quote(iface) + " " + shell.Quote(mac)
	return Claim{
		Setup:   helperSetup(netplanClaim),
		Carry:   `python3 "$claim" carry ` + args + ` "$desired"`,
		Others:  `python3 "$claim" others ` + args + ` "$config_path"`,
		Release: `python3 "$claim" ids ` + args + ` "$config_path" | while read -r id; do netplan set "ethernets.$id=null"; done`,
	}
}

func (n netplan) RollbackApply(i string) string { return n.Apply(i) }

// DNSApplies: netplan renders DNS for networkd, which hands it to resolved only.
func (netplan) DNSApplies() string { return "systemctl is-active --quiet systemd-resolved" }

// Apply is `netplan apply`, except in a container: there /sys is read-only, so
// netplan's `udevadm trigger` fails, and the generated networkd configuration
// is loaded by networkd directly (the lab's test hosts are containers; real
// hosts take the first branch).
func (netplan) Apply(iface string) string {
	return "if systemd-detect-virt --quiet --container; then netplan generate && networkctl reload && networkctl reconfigure " +
		shell.Quote(iface) + "; else netplan apply; fi"
}

// networkd uses the first matching .network file in lexical order: 00- sorts first.
type networkd struct{}

func (networkd) Name() string { return Networkd }
func (networkd) ConfigPath(iface string) string {
	return "/etc/systemd/network/00-homelab-" + iface + ".network"
}
func (networkd) ConfigMode() string         { return "0644" }
func (networkd) Render(c Config) string     { return render("networkd.network.tmpl", c) }
func (networkd) Claim(string, string) Claim { return Claim{} }
func (networkd) Watch() []string            { return nil }
func (networkd) Apply(iface string) string {
	return "networkctl reload && networkctl reconfigure " + shell.Quote(iface)
}
func (n networkd) RollbackApply(iface string) string { return n.Apply(iface) }

// DNSApplies: networkd hands DNS= to systemd-resolved only.
func (networkd) DNSApplies() string { return "systemctl is-active --quiet systemd-resolved" }

// networkManager adds a keyfile connection with a higher autoconnect priority.
type networkManager struct{}

func (networkManager) Name() string { return NetworkManager }
func (networkManager) ConfigPath(iface string) string {
	return "/etc/NetworkManager/system-connections/homelab-" + iface + ".nmconnection"
}
func (networkManager) ConfigMode() string         { return "0600" }
func (networkManager) Render(c Config) string     { return render("networkmanager.nmconnection.tmpl", c) }
func (networkManager) Claim(string, string) Claim { return Claim{} }
func (networkManager) Watch() []string            { return nil }
func (networkManager) Apply(iface string) string {
	return "nmcli connection reload && nmcli connection up " + shell.Quote("homelab-"+iface)
}

// RollbackApply lets NetworkManager pick the best remaining connection.
func (networkManager) RollbackApply(iface string) string {
	return "nmcli connection reload && nmcli device connect " + shell.Quote(iface)
}

// DNSApplies: NetworkManager writes the resolver configuration itself.
func (networkManager) DNSApplies() string { return "true" }

// ifupdown writes the interface's stanza into interfaces.d and takes it out of
// the other files, keeping every other stanza there.
type ifupdown struct{}

func (ifupdown) Name() string                   { return Ifupdown }
func (ifupdown) ConfigPath(iface string) string { return "/etc/network/interfaces.d/homelab-" + iface }
func (ifupdown) ConfigMode() string             { return "0644" }
func (ifupdown) Render(c Config) string         { return render("ifupdown.interfaces.tmpl", c) }

// Claim takes the interface's auto and iface stanzas out of
// /etc/network/interfaces and interfaces.d, and makes sure interfaces.d is
// sourced.
func (ifupdown) Claim(iface, _ string) Claim {
	return Claim{
		Setup:   helperSetup(ifupdownClaim),
		Others:  `bash "$claim" others ` + shell.Quote(iface) + ` "$config_path"`,
		Release: `bash "$claim" release ` + shell.Quote(iface) + ` "$config_path"`,
	}
}
func (ifupdown) Watch() []string {
	return []string{"/etc/network/interfaces", "/etc/network/interfaces.d/*"}
}
func (ifupdown) Apply(iface string) string {
	q := shell.Quote(iface)
	return "ifdown --force " + q + " || true; ip -4 addr flush dev " + q + "; ifup " + q
}
func (i ifupdown) RollbackApply(iface string) string { return i.Apply(iface) }

// DNSApplies: dns-nameservers is read by resolvconf's ifupdown hook only.
func (ifupdown) DNSApplies() string { return "command -v resolvconf >/dev/null" }
