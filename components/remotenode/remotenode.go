// Package remotenode turns a freshly installed Linux host reachable over SSH
// into a known, pinned, statically addressed node: the RemoteNode component.
//
// Facts are read in the program (Gather) before anything is declared; the
// component then declares a few coarse remote.Command steps per host:
//
//	<node>-static-ip   dials the install-time address; writes the static address
//	                   for the host's network stack and applies it in the
//	                   background, armed with a timed rollback
//	<node>-confirm-ip  dials the static address; disarms the rollback
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
)

// Type is the component's type token.
const Type = "homelab:index:RemoteNode"

// RemoteNodeArgs configure one host.
type RemoteNodeArgs struct {
	// Index is the node's position in the stack's nodes list, for messages.
	Index int
	// Address is the install-time SSH address; the static-IP step dials it.
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
	// its steps are declared with every input ignored, so they keep their
	// last inputs and stay in the stack; otherwise none are declared.
	Down        bool
	Provisioned bool
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
	Upgrade   *remote.Command // nil unless UpgradeEpoch > 0
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

	if args.Down && !args.Provisioned {
		return n, ctx.RegisterResourceOutputs(n, pulumi.Map{"down": pulumi.Bool(true)})
	}
	facts := args.Facts
	stepOpts := []pulumi.ResourceOption{pulumi.Parent(n)}
	if args.Down {
		// Keep whatever the stack holds: a dead host must not be dialled.
		facts = &Facts{MachineID: "down", NetworkStack: StackNetplan, Interface: "down"}
		stepOpts = append(stepOpts, pulumi.IgnoreChanges([]string{
			"create", "update", "stdin", "triggers", "connection", "logging", "environment", "addPreviousOutputInEnv",
		}))
	}

	nc := netConfig{
		Interface: facts.Interface,
		Address:   args.StaticAddress, Gateway: args.Gateway, DNS: args.DNS,
	}
	staticIP, err := staticIPScript(facts.NetworkStack, nc, int(args.RollbackAfter.Seconds()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ipSticks := slices.Contains(facts.Addresses, args.StaticAddress)
	ipRedo := redo(facts, StepStaticIP, ipSticks)

	step := func(s script, redoCount int, conn remote.ConnectionArgs, triggers pulumi.Array, deps []pulumi.Resource) (*remote.Command, error) {
		o := append(slices.Clone(stepOpts), pulumi.DependsOn(deps))
		return remote.NewCommand(ctx, name+"-"+s.Step, &remote.CommandArgs{
			Connection:             conn,
			Create:                 pulumi.String(s.command(redoCount)),
			Triggers:               triggers,
			AddPreviousOutputInEnv: pulumi.Bool(false),
		}, o...)
	}
	identity := func(redoCount int) pulumi.Array {
		return pulumi.Array{
			pulumi.String("machine-id=" + facts.MachineID),
			pulumi.String(fmt.Sprintf("redo=%d", redoCount)),
		}
	}

	installConn := connection(args, args.Address, dialErrorLimit)
	if n.StaticIP, err = step(staticIP, ipRedo, installConn, identity(ipRedo), nil); err != nil {
		return nil, err
	}
	confirmConn := connection(args, prefix.Addr().String(), confirmDialErrorLimit)
	if n.ConfirmIP, err = step(confirmIPScript(nc), ipRedo, confirmConn, identity(ipRedo), []pulumi.Resource{n.StaticIP}); err != nil {
		return nil, err
	}

	packages := append(slices.Clone(BasePackages), args.ExtraPackages...)
	base := baseScript(args.Hostname, args.Hosts, args.Journald, packages)
	baseRedo := redo(facts, StepBase, true)
	if n.Base, err = step(base, baseRedo, n.Connection, identity(baseRedo), []pulumi.Resource{n.ConfirmIP}); err != nil {
		return nil, err
	}

	if args.UpgradeEpoch > 0 {
		triggers := pulumi.Array{
			pulumi.String("machine-id=" + facts.MachineID),
			pulumi.String(fmt.Sprintf("epoch=%d", args.UpgradeEpoch)),
		}
		deps := append([]pulumi.Resource{n.Base}, args.UpgradeAfter...)
		if n.Upgrade, err = step(upgradeScript(args.UpgradeEpoch), 0, n.Connection, triggers, deps); err != nil {
			return nil, err
		}
	}

	outs := pulumi.Map{
		"machineId":     pulumi.String(facts.MachineID),
		"networkStack":  pulumi.String(facts.NetworkStack),
		"interface":     pulumi.String(facts.Interface),
		"staticAddress": pulumi.String(args.StaticAddress),
	}
	if err := ctx.RegisterResourceOutputs(n, outs); err != nil {
		return nil, err
	}
	return n, nil
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

// redo is the step's redo counter: unchanged while the step's marker says it
// is applied and intact (so a converged host plans nothing), one more when it
// did not stick (so the step is replaced and runs again). A changed script on
// an intact host keeps the counter: that is an update, not a replacement.
func redo(f *Facts, step string, sticks bool) int {
	m, ok := f.Markers[step]
	if !ok {
		return 0
	}
	if m.State == "applied" && m.Intact && sticks {
		return m.Redo
	}
	return m.Redo + 1
}
