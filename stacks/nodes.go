package stacks

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"golang.org/x/crypto/ssh"

	"github.com/homeslice/homelab/components/remotenode"
)

// Probe reads the facts of hosts; remotenode.Gather in a program, a stand-in
// in mock tests, which cannot dial hosts.
type Probe func(ctx context.Context, targets []remotenode.Target, o remotenode.ProbeOptions) ([]*remotenode.Facts, error)

// provisionedOutput is the stack output listing the nodes whose steps are in
// the stack. A node marked down keeps its steps only if it is listed: a
// program cannot read its own state, but it can read its last outputs.
const provisionedOutput = "provisionedNodes"

// provisionedStepsOutput maps each of those nodes to the steps it has in the
// stack, so a dead node keeps exactly those and gets no new one.
const provisionedStepsOutput = "provisionedSteps"

// staticAddressesOutput maps each node to the static address it was given, so
// a node renumbered in config is still found at its old address.
const staticAddressesOutput = "staticAddresses"

// lastOutputs is what the program reads of its own last run.
type lastOutputs struct {
	provisioned []string
	steps       map[string][]string
	addresses   map[string]string
}

// gatherFacts probes every node that is up, in parallel, before anything is
// declared: an unreachable host or an unpinned key stops the run here.
func gatherFacts(cfg *Config, probe Probe, last lastOutputs) (map[string]*remotenode.Facts, error) {
	signer, err := ssh.ParsePrivateKey([]byte(cfg.Secrets.SSHPrivateKey))
	if err != nil {
		return nil, fmt.Errorf("reading sshPrivateKey: %w", err)
	}
	var targets []remotenode.Target
	for i, n := range cfg.Nodes {
		if n.Down {
			continue
		}
		targets = append(targets, remotenode.Target{
			Index: i, Name: n.Name,
			Addresses: probeAddresses(staticAddr(n), last.addresses[n.Name], n.Address),
			Port:      n.Port, User: n.User, Signer: signer, HostKey: n.HostKey,
		})
	}
	facts, err := probe(context.Background(), targets, remotenode.ProbeOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]*remotenode.Facts{}
	for i, t := range targets {
		out[t.Name] = facts[i]
	}
	if err := uniqueMachineIDs(targets, facts); err != nil {
		return nil, err
	}
	return out, nil
}

// probeAddresses are a node's addresses in the order the probe tries them: the
// static address config gives it, the one it had last (a renumbered node is
// still there until its static-ip step has run), the install-time one.
func probeAddresses(addrs ...string) []string {
	var out []string
	for _, a := range addrs {
		if a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// uniqueMachineIDs refuses nodes that share a machine-id: cloned VMs or disk
// images. The machine-id is how a reinstall is told from a host that only
// rebooted (it is in every step's triggers), so two hosts with one id would
// hide a reinstall of either.
func uniqueMachineIDs(targets []remotenode.Target, facts []*remotenode.Facts) error {
	first := map[string]string{}
	var errs []error
	for i, t := range targets {
		id := facts[i].MachineID
		if prev, dup := first[id]; dup {
			errs = append(errs, fmt.Errorf("%s and %s have the same machine-id %s (cloned from one image?), which breaks reinstall detection; on one of them (%s, say) run `rm /etc/machine-id && systemd-machine-id-setup`, then reboot it; nothing was changed",
				prev, t.Name, id, t.Name))
			continue
		}
		first[id] = t.Name
	}
	return errors.Join(errs...)
}

// provisionNodes declares a RemoteNode per configured node.
func provisionNodes(ctx *pulumi.Context, cfg *Config, facts map[string]*remotenode.Facts, last lastOutputs) ([]*remotenode.RemoteNode, error) {
	privateKey := pulumi.ToSecret(pulumi.String(cfg.Secrets.SSHPrivateKey)).(pulumi.StringOutput)
	hosts := hostEntries(cfg)
	confirmTime, _ := time.ParseDuration(cfg.System.IPConfirmTime) // validated

	var nodes []*remotenode.RemoteNode
	var keep []string
	steps, addresses := pulumi.Map{}, pulumi.StringMap{}
	var lastUpgrade pulumi.Resource
	for i, n := range cfg.Nodes {
		args := &remotenode.RemoteNodeArgs{
			Index: i, Address: n.Address, Port: n.Port, User: n.User,
			PrivateKey: privateKey, HostKey: n.HostKey,
			StaticAddress: n.StaticAddress, Gateway: n.Gateway, DNS: n.DNS,
			Hostname: n.Name, Hosts: hosts,
			Journald:      remotenode.Journald{Storage: cfg.System.Journald.Storage, SystemMaxUse: cfg.System.Journald.SystemMaxUse},
			ExtraPackages: cfg.System.ExtraPackages,
			UpgradeEpoch:  cfg.System.UpgradeEpoch,
			Facts:         facts[n.Name],
			Down:          n.Down,
			Provisioned:   slices.Contains(last.provisioned, n.Name),
			KeptSteps:     last.steps[n.Name],
			RollbackAfter: confirmTime,
		}
		if lastUpgrade != nil {
			args.UpgradeAfter = []pulumi.Resource{lastUpgrade}
		}
		node, err := remotenode.NewRemoteNode(ctx, n.Name, args)
		if err != nil {
			return nil, err
		}
		if node.Upgrade != nil {
			lastUpgrade = node.Upgrade
		}
		if !n.Down || args.Provisioned {
			keep = append(keep, n.Name)
			steps[n.Name] = pulumi.ToStringArray(node.Steps)
			addresses[n.Name] = pulumi.String(staticAddr(n))
		}
		nodes = append(nodes, node)
	}
	ctx.Export(provisionedOutput, pulumi.ToStringArray(keep))
	ctx.Export(provisionedStepsOutput, steps)
	ctx.Export(staticAddressesOutput, addresses)
	return nodes, nil
}

// readLastOutputs reads provisionedNodes, provisionedSteps and staticAddresses
// from this stack's last outputs. The reference is read on every run, not only
// while a node is down or renumbered, so marking a node down or up again adds or
// removes nothing in the stack.
func readLastOutputs(ctx *pulumi.Context) (lastOutputs, error) {
	org := ctx.Organization()
	if org == "" {
		org = "organization"
	}
	ref, err := pulumi.NewStackReference(ctx, "last-outputs", &pulumi.StackReferenceArgs{
		Name: pulumi.String(fmt.Sprintf("%s/%s/%s", org, ctx.Project(), ctx.Stack())),
	})
	if err != nil {
		return lastOutputs{}, fmt.Errorf("reading the stack's last outputs: %w", err)
	}
	get := func(name string) (any, error) {
		d, err := ref.GetOutputDetails(name)
		if err != nil {
			return nil, fmt.Errorf("reading the stack's last outputs: %w", err)
		}
		return d.Value, nil
	}
	last := lastOutputs{steps: map[string][]string{}, addresses: map[string]string{}}
	v, err := get(provisionedOutput)
	if err != nil {
		return last, err
	}
	last.provisioned = stringList(v)
	if v, err = get(provisionedStepsOutput); err != nil {
		return last, err
	}
	if m, ok := v.(map[string]any); ok {
		for node, l := range m {
			last.steps[node] = stringList(l)
		}
	}
	if v, err = get(staticAddressesOutput); err != nil {
		return last, err
	}
	if m, ok := v.(map[string]any); ok {
		for node, a := range m {
			if s, ok := a.(string); ok {
				last.addresses[node] = s
			}
		}
	}
	return last, nil
}

// stringList reads a list of strings from a stack output's value.
func stringList(v any) []string {
	var out []string
	if list, ok := v.([]any); ok {
		for _, e := range list {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// hostEntries is the managed /etc/hosts block: every node on its static
// address, then the extra entries of system.hosts.
func hostEntries(cfg *Config) []remotenode.HostEntry {
	var out []remotenode.HostEntry
	for _, n := range cfg.Nodes {
		out = append(out, remotenode.HostEntry{IP: staticAddr(n), Name: n.Name})
	}
	for _, name := range sortedMapKeys(cfg.System.Hosts) {
		out = append(out, remotenode.HostEntry{IP: cfg.System.Hosts[name], Name: name})
	}
	return out
}

// staticAddr is the node's static address without its prefix length.
func staticAddr(n Node) string {
	p, err := netip.ParsePrefix(n.StaticAddress)
	if err != nil {
		return ""
	}
	return p.Addr().String()
}
