package remotenode

import (
	"bytes"
	"embed"
	"fmt"
	"text/template"

	"github.com/homeslice/homelab/internal/netstack"
	"github.com/homeslice/homelab/internal/shell"
	"github.com/homeslice/homelab/internal/step"
)

//go:embed scripts/facts.sh
var factsScript string

//go:embed scripts/*.tmpl
var templateFS embed.FS

// templates are parsed once at start-up: a broken template fails every test
// rather than a deploy.
var templates = template.Must(template.New("").Funcs(template.FuncMap{"q": shell.Quote}).
	ParseFS(templateFS, "scripts/*.tmpl"))

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
type netConfig = netstack.Config

// staticIPData feeds static-ip.sh.tmpl.
type staticIPData struct {
	netConfig
	Step            string
	Stack           string
	ConfigPath      string
	Mode            string
	Config          string
	Claim           netstack.Claim
	Watch           []string
	DNSApplies      string
	Apply           string
	RollbackApply   string
	DeadlineSeconds int
}

// staticIPScript renders the static-ip step for a host's stack; mac is the
// interface's (an identity fact), for netplan definitions that match by it.
func staticIPScript(stack string, nc netConfig, mac string, deadlineSeconds int) (step.Script, error) {
	ns, err := netstack.For(stack)
	if err != nil {
		return step.Script{}, err
	}
	d := staticIPData{
		netConfig: nc, Step: StepStaticIP, Stack: stack,
		ConfigPath: ns.ConfigPath(nc.Interface), Mode: ns.ConfigMode(), Config: ns.Render(nc),
		Claim: ns.Claim(nc.Interface, mac), Watch: ns.Watch(), DNSApplies: ns.DNSApplies(),
		Apply: ns.Apply(nc.Interface), RollbackApply: ns.RollbackApply(nc.Interface),
		DeadlineSeconds: deadlineSeconds,
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
