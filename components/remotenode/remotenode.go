// Package remotenode turns a freshly installed Linux host reachable over SSH
// into a known, pinned, statically addressed node: the RemoteNode component.
//
// Facts are read in the program (Gather) before anything is declared; the
// component then declares a few coarse remote.Command steps per host:
//
//	<node>-static-ip   dials the address that answers (the install-time one on a
//	                   fresh host); writes the static address for the host's
//	                   network stack and applies it in the background, armed
//	                   with a timed rollback that survives a reboot
//	<node>-confirm-ip  dials the static address; once that attempt's apply has
//	                   finished, disarms the rollback
//	<node>-base        hostname, /etc/hosts block, journald limits, TRIM, packages
//	<node>-upgrade     OS upgrade, once per upgrade epoch (only when epoch > 0)
//
// Every step carries the host's machine-id in its triggers (a reinstalled host
// is re-provisioned) and no delete script (a delete would dial the old host
// with the old key). A step that did not stick on the host (rolled back, undone
// by hand) shows in its marker; its redo counter then moves, which replaces the
// step on the next run, and settles again once it has been re-applied.
package remotenode

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/homeslice/homelab/internal/step"
)

// Type is the component's type token.
const Type = "homelab:index:RemoteNode"

// RemoteNodeArgs configure one host.
type RemoteNodeArgs struct {
	// Index is the node's position in the stack's nodes list, for messages.
	Index int
	// Address is the install-time SSH address; the static-IP step dials it on
	// a fresh host (later, whichever address answers).
	Address string
	Port    int
	User    string
	// PrivateKey is the SSH private key, a secret.
	PrivateKey pulumi.StringInput
	// HostKey is the pinned host key in authorized_keys form.
	HostKey string
	// StaticAddress is the node's address in CIDR form; later steps dial it.
	StaticAddress string
	Gateway       string
	DNS           []string
	Hostname      string
	// Hosts are the entries of the managed /etc/hosts block.
	Hosts         []HostEntry
	Journald      Journald
	ExtraPackages []string
	// UpgradeEpoch > 0 declares the upgrade step; bumping it upgrades again.
	UpgradeEpoch int
	// UpgradeAfter are resources the upgrade waits for (the previous node's
	// upgrade), so nodes upgrade one at a time.
	UpgradeAfter []pulumi.Resource
	// Facts are the host's facts from Gather; nil when the node is down.
	Facts *Facts
	// Down marks a dead host: nothing is planned for it. When Provisioned,
	// the steps its last run left in the stack (KeptSteps; nil: the first
	// three) are declared with every input ignored, so they keep their last
	// inputs; no new step is added. Otherwise none are declared.
	Down        bool
	Provisioned bool
	KeptSteps   []string
	// RollbackAfter is how long a new static address has to be confirmed
	// before the host rolls it back (default 3 minutes).
	RollbackAfter time.Duration
}

// RemoteNode is a provisioned host.
type RemoteNode struct {
	pulumi.ResourceState

	Name  string
	Facts *Facts
	// Connection dials the node on its static address with the pinned key;
	// later components use it for their own steps.
	Connection remote.ConnectionArgs

	StaticIP  *remote.Command
	ConfirmIP *remote.Command
	Base      *remote.Command
	Upgrade   *remote.Command // nil unless UpgradeEpoch > 0 (and, on a dead node, kept)
	// Steps names the steps declared this run, for the stack's outputs.
	Steps []string
}

// Dial limits of the commands. The confirm step retries for longer: the new
// address takes a few seconds to come up after the background apply.
const (
	dialErrorLimit        = 5
	perDialTimeout        = 10
	confirmDialErrorLimit = 12
)

// NewRemoteNode declares the provisioning steps of one host.
func NewRemoteNode(ctx *pulumi.Context, name string, args *RemoteNodeArgs, opts ...pulumi.ResourceOption) (*RemoteNode, error) {
	if args == nil {
		return nil, errors.New("remotenode: args are required")
	}
	prefix, err := netip.ParsePrefix(args.StaticAddress)
	if err != nil {
		return nil, fmt.Errorf("%s: static address: %w", name, err)
	}
	if args.Facts == nil && !args.Down {
		return nil, fmt.Errorf("%s: facts are required for a node that is up", name)
	}
	if args.RollbackAfter == 0 {
		args.RollbackAfter = 3 * time.Minute
	}

	n := &RemoteNode{Name: name, Facts: args.Facts}
	if err := ctx.RegisterComponentResource(Type, name, n, opts...); err != nil {
		return nil, err
	}
	n.Connection = connection(args, prefix.Addr().String(), dialErrorLimit)
	node := nodeState(name, args)
	if node.State == step.DownNever {
		return n, ctx.RegisterResourceOutputs(n, pulumi.Map{"down": pulumi.Bool(true)})
	}

	// A dead node's steps keep their last inputs (step.Declare ignores every
	// input), so nothing is rendered for it: there are no facts to render from.
	scripts := map[string]step.Script{}
	for _, s := range []string{StepStaticIP, StepConfirmIP, StepBase, StepUpgrade} {
		scripts[s] = step.Script{Name: s}
	}
	nc := netConfig{Address: args.StaticAddress, Gateway: args.Gateway, DNS: args.DNS}
	ipSticks := false
	if f := args.Facts; node.State == step.Up {
		nc.Interface = f.Interface
		if scripts[StepStaticIP], err = staticIPScript(f.NetworkStack, nc, f.MAC, int(args.RollbackAfter.Seconds())); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		packages := append(slices.Clone(BasePackages), args.ExtraPackages...)
		scripts[StepBase] = baseScript(args.Hostname, args.Hosts, args.Journald, packages)
		scripts[StepUpgrade] = upgradeScript(args.UpgradeEpoch)
		ipSticks = slices.Contains(f.Addresses, args.StaticAddress)
	}

	staticIP, err := step.Declare(ctx, n, node, staticIPStep(args, node, scripts[StepStaticIP], ipSticks))
	if err != nil {
		return nil, err
	}
	if staticIP != nil && node.State == step.Up {
		scripts[StepConfirmIP] = confirmIPScript(nc, staticIP.Script, staticIP.Redo)
	}
	confirmIP, err := step.Declare(ctx, n, node, step.Step{
		Script: scripts[StepConfirmIP], Connection: connection(args, prefix.Addr().String(), confirmDialErrorLimit),
		Sticks: true, Confirms: staticIP,
	})
	if err != nil {
		return nil, err
	}
	base, err := step.Declare(ctx, n, node, step.Step{
		Script: scripts[StepBase], Connection: n.Connection, Sticks: true, After: resources(confirmIP),
	})
	if err != nil {
		return nil, err
	}
	var upgrade *step.Declared
	if args.UpgradeEpoch > 0 {
		upgrade, err = step.Declare(ctx, n, node, step.Step{
			Script: scripts[StepUpgrade], Connection: n.Connection, NoRedo: true,
			Triggers: []string{fmt.Sprintf("epoch=%d", args.UpgradeEpoch)},
			After:    append(resources(base), args.UpgradeAfter...),
		})
		if err != nil {
			return nil, err
		}
	}
	n.StaticIP, n.ConfirmIP, n.Base, n.Upgrade = command(staticIP), command(confirmIP), command(base), command(upgrade)
	for _, d := range []*step.Declared{staticIP, confirmIP, base, upgrade} {
		if d != nil {
			n.Steps = append(n.Steps, d.Script.Name)
		}
	}

	outs := pulumi.Map{"staticAddress": pulumi.String(args.StaticAddress)}
	if f := args.Facts; f != nil {
		outs["machineId"] = pulumi.String(f.MachineID)
		outs["networkStack"] = pulumi.String(f.NetworkStack)
		outs["interface"] = pulumi.String(f.Interface)
	}
	if err := ctx.RegisterResourceOutputs(n, outs); err != nil {
		return nil, err
	}
	return n, nil
}

// staticIPStep dials the address that answered the probe whenever the step is
// going to run: the install-time address on a fresh host, the static address
// once it is up (the install-time one, often a DHCP lease, is gone by then), the
// old static address when the node is renumbered. When the host already holds
// exactly what the step applies, the connection is ignored, so a converged host
// plans nothing whichever address answered.
func staticIPStep(args *RemoteNodeArgs, node step.Node, s step.Script, sticks bool) step.Step {
	st := step.Step{Script: s, Sticks: sticks, Connection: connection(args, args.Address, dialErrorLimit)}
	if node.State != step.Up {
		return st
	}
	if step.InPlace(node.Markers, s, sticks) {
		st.IgnoreChanges = []string{"connection"}
	} else if at := args.Facts.ReachedAt; at != "" {
		st.Connection = connection(args, at, dialErrorLimit)
	}
	return st
}

// nodeState is the node as the step machinery sees it this run.
func nodeState(name string, args *RemoteNodeArgs) step.Node {
	switch {
	case !args.Down:
		return step.Node{Name: name, State: step.Up, MachineID: args.Facts.MachineID, Markers: args.Facts.Markers}
	case args.Provisioned:
		kept := args.KeptSteps
		if kept == nil {
			kept = []string{StepStaticIP, StepConfirmIP, StepBase}
		}
		return step.Node{Name: name, State: step.DownProvisioned, Kept: kept}
	}
	return step.Node{Name: name, State: step.DownNever}
}

func resources(d *step.Declared) []pulumi.Resource {
	if d == nil {
		return nil
	}
	return []pulumi.Resource{d.Command}
}

func command(d *step.Declared) *remote.Command {
	if d == nil {
		return nil
	}
	return d.Command
}

// connection dials host with the pinned key; the private key is a secret
// and the SDK keeps the whole connection secret.
func connection(args *RemoteNodeArgs, host string, dialErrors int) remote.ConnectionArgs {
	return remote.ConnectionArgs{
		Host:           pulumi.String(host),
		Port:           pulumi.Float64(float64(args.Port)),
		User:           pulumi.String(args.User),
		PrivateKey:     args.PrivateKey,
		HostKey:        pulumi.String(args.HostKey),
		DialErrorLimit: pulumi.Int(dialErrors),
		PerDialTimeout: pulumi.Int(perDialTimeout),
	}
}
