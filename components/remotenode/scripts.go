package remotenode

import (
	"bytes"
	"embed"
	"fmt"
	"strconv"
	"text/template"

	"github.com/homeslice/homelab/internal/shell"
	"github.com/homeslice/homelab/internal/step"
)

//go:embed scripts/facts.sh
var factsScript string

//go:embed scripts/*.tmpl scripts/net/*.tmpl
var templateFS embed.FS

// templates are parsed once at start-up: a broken template fails every test
// rather than a deploy.
var templates = template.Must(template.New("").Funcs(template.FuncMap{"q": shell.Quote, "yamlString": strconv.Quote}).
	ParseFS(templateFS, "scripts/*.tmpl", "scripts/net/*.tmpl"))

// Step names: the suffix of each command's resource name and the name of its
// marker on the host.
const (
	StepStaticIP  = "static-ip"
	StepConfirmIP = "confirm-ip"
	StepBase      = "base"
	StepUpgrade   = "upgrade"
)

// render executes a template; a failure is a programming error.
func render(name string, data any) string {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		panic(fmt.Sprintf("remotenode: rendering %s: %v", name, err))
	}
	return b.String()
}

// newScript renders a step's template into a step script.
func newScript(name, tmpl string, data any) step.Script {
	return step.NewScript(name, render(tmpl, data))
}

// netConfig is what a network stack needs to give an interface its address.
type netConfig struct {
	Interface string
	Address   string // CIDR
	Gateway   string
	DNS       []string
}

// stackPlan is how one network stack is configured and applied.
type stackPlan struct {
	ConfigPath string
	Mode       string
	Template   string
	// AsideGlobs are other files that would configure the interface too; the
	// step moves them into its backup.
	AsideGlobs []string
	Apply      string
	// RollbackApply re-applies after the previous files are restored.
	RollbackApply string
}

func planFor(stack, iface string) (stackPlan, error) {
	switch stack {
	case StackNetplan:
		return stackPlan{
			ConfigPath: "/etc/netplan/60-homelab.yaml", Mode: "0600", Template: "netplan.yaml.tmpl",
			AsideGlobs: []string{"/etc/netplan/*.yaml", "/etc/netplan/*.yml"},
			Apply:      netplanApply(iface), RollbackApply: netplanApply(iface),
		}, nil
	case StackNetworkd:
		return stackPlan{
			// networkd uses the first matching file in lexical order: 00- sorts first.
			ConfigPath: "/etc/systemd/network/00-homelab-" + iface + ".network", Mode: "0644", Template: "networkd.network.tmpl",
			Apply:         "networkctl reload && networkctl reconfigure " + shell.Quote(iface),
			RollbackApply: "networkctl reload && networkctl reconfigure " + shell.Quote(iface),
		}, nil
	case StackNetworkManager:
		return stackPlan{
			ConfigPath: "/etc/NetworkManager/system-connections/homelab-" + iface + ".nmconnection", Mode: "0600",
			Template:      "networkmanager.nmconnection.tmpl",
			Apply:         "nmcli connection reload && nmcli connection up " + shell.Quote("homelab-"+iface),
			RollbackApply: "nmcli connection reload && nmcli device connect " + shell.Quote(iface),
		}, nil
	case StackIfupdown:
		return stackPlan{
			ConfigPath: "/etc/network/interfaces", Mode: "0644", Template: "ifupdown.interfaces.tmpl",
			Apply:         "ifdown --force " + shell.Quote(iface) + " || true; ip -4 addr flush dev " + shell.Quote(iface) + "; ifup " + shell.Quote(iface),
			RollbackApply: "ifdown --force " + shell.Quote(iface) + " || true; ip -4 addr flush dev " + shell.Quote(iface) + "; ifup " + shell.Quote(iface),
		}, nil
	}
	return stackPlan{}, fmt.Errorf("network stack %q is not supported", stack)
}

// netplanApply is `netplan apply`, except in a container: there /sys is
// read-only, so netplan's `udevadm trigger` fails, and the generated networkd
// configuration is loaded by networkd directly (the lab's test hosts are
// containers; real hosts take the first branch).
func netplanApply(iface string) string {
	return "if systemd-detect-virt --quiet --container; then netplan generate && networkctl reload && networkctl reconfigure " +
		shell.Quote(iface) + "; else netplan apply; fi"
}

// staticIPData feeds static-ip.sh.tmpl.
type staticIPData struct {
	stackPlan
	netConfig
	Step            string
	Stack           string
	Config          string
	DeadlineSeconds int
}

func staticIPScript(stack string, nc netConfig, deadlineSeconds int) (step.Script, error) {
	plan, err := planFor(stack, nc.Interface)
	if err != nil {
		return step.Script{}, err
	}
	d := staticIPData{
		stackPlan: plan, netConfig: nc, Step: StepStaticIP, Stack: stack,
		Config: render(plan.Template, nc), DeadlineSeconds: deadlineSeconds,
	}
	return newScript(StepStaticIP, "static-ip.sh.tmpl", d), nil
}

// applyWaitSeconds bounds how long confirm-ip waits for its attempt's apply.
const applyWaitSeconds = 60

// confirmIPScript confirms one static-ip attempt: the static-ip script's hash
// and redo counter, as static-ip records them on the host.
func confirmIPScript(nc netConfig, staticIP step.Script, redo int) step.Script {
	return newScript(StepConfirmIP, "confirm-ip.sh.tmpl", struct {
		netConfig
		StaticStep       string
		Attempt          string
		ApplyWaitSeconds int
	}{nc, StepStaticIP, fmt.Sprintf("%s-%d", staticIP.Hash, redo), applyWaitSeconds})
}

// HostEntry is one line of the managed /etc/hosts block.
type HostEntry struct {
	IP   string
	Name string
}

// Journald configures the journald drop-in.
type Journald struct {
	Storage      string // volatile, persistent or auto
	SystemMaxUse string // 64M
}

// BasePackages are installed on every node: what later steps need to add apt
// repositories and fetch over HTTPS.
var BasePackages = []string{"ca-certificates", "curl", "gnupg"}

func baseScript(hostname string, hosts []HostEntry, j Journald, packages []string) step.Script {
	return newScript(StepBase, "base.sh.tmpl", struct {
		Hostname string
		Hosts    []HostEntry
		Journald Journald
		Packages []string
	}{hostname, hosts, j, packages})
}

func upgradeScript(epoch int) step.Script {
	return newScript(StepUpgrade, "upgrade.sh.tmpl", struct{ Epoch string }{fmt.Sprint(epoch)})
}
