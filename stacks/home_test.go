package stacks

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/homeslice/homelab/components/remotenode"

	"github.com/homeslice/homelab/internal/pulumitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// options turns a home stack into mock-run options, secrets as secrets.
func (h *homeStack) options(t testing.TB) pulumitest.Options {
	src := h.source(t)
	o := pulumitest.Options{Config: map[string]string{}, Secrets: map[string]string{}, DryRun: true}
	for k, v := range src.values {
		if src.secret[k] {
			o.Secrets[k] = v
		} else {
			o.Config[k] = v
		}
	}
	return o
}

// fakeFacts answers a probe with converged-looking facts for every target,
// and records the targets it was asked about.
type fakeFacts struct {
	targets []remotenode.Target
	err     error
	// ids overrides the machine-id of the named nodes.
	ids map[string]string
}

func (f *fakeFacts) probe(_ context.Context, targets []remotenode.Target, _ remotenode.ProbeOptions) ([]*remotenode.Facts, error) {
	f.targets = targets
	if f.err != nil {
		return nil, f.err
	}
	var out []*remotenode.Facts
	for i, t := range targets {
		out = append(out, &remotenode.Facts{
			MachineID: fmt.Sprintf("%032d", i+1), OSID: "ubuntu", OSVersion: "24.04", Arch: "x86_64",
			NetworkStack: remotenode.StackNetplan, Interface: "enp1s0", MAC: fmt.Sprintf("52:54:00:00:00:%02d", i+1),
			Addresses: []string{t.Addresses[0] + "/24"}, ReachedAt: t.Addresses[0],
		})
		if id, ok := f.ids[t.Name]; ok {
			out[i].MachineID = id
		}
	}
	return out, nil
}

func (f *fakeFacts) run(ctx *pulumi.Context) error { return home(ctx, f.probe) }

func TestHomeWithExampleStack(t *testing.T) {
	f := &fakeFacts{}
	res := pulumitest.Run(t, f.run, loadHome(t).options(t))
	require.NoError(t, res.Err)
	require.Len(t, f.targets, 3)
	assert.Equal(t, []string{"192.168.1.21", "192.168.1.121"}, f.targets[0].Addresses, "static address first, then the install-time one")
	assert.Len(t, res.ByType("homelab:index:RemoteNode"), 3)
	assert.Len(t, res.ByType("command:remote:Command"), 9)
	assert.Len(t, res.ByType("pulumi:pulumi:StackReference"), 1, "the stack's last outputs are read on every run")

	base := res.Get(t, "command:remote:Command", "node2-base")
	assert.Contains(t, base.InputString("create"), "192.168.1.23 node3", "the hosts block lists every node")
	assert.Contains(t, base.InputString("create"), "192.168.1.5 nas.home.arpa")
	assert.Contains(t, base.InputString("create"), "smartmontools")
}

func TestHomeStopsBeforeAnythingWhenAProbeFails(t *testing.T) {
	f := &fakeFacts{err: &remotenode.PinError{Nodes: []remotenode.PinNeeded{{Index: 1, Name: "node2", Address: "192.168.1.22", Key: "ssh-ed25519 AAAA"}}}}
	res := pulumitest.Run(t, f.run, loadHome(t).options(t))
	require.Error(t, res.Err)
	assert.Contains(t, res.Err.Error(), "pulumi config set --path 'nodes[1].hostKey' 'ssh-ed25519 AAAA'")
	assert.Empty(t, changes(res), "nothing but the read of the last outputs is declared")
}

func TestClonedMachineIDsAreRefused(t *testing.T) {
	clone := "0123456789abcdef0123456789abcdef"
	f := &fakeFacts{ids: map[string]string{"node1": clone, "node3": clone}}
	res := pulumitest.Run(t, f.run, loadHome(t).options(t))
	require.Error(t, res.Err)
	msg := res.Err.Error()
	assert.Contains(t, msg, "node1 and node3 have the same machine-id "+clone)
	assert.Contains(t, msg, "breaks reinstall detection")
	assert.Contains(t, msg, "`rm /etc/machine-id && systemd-machine-id-setup`, then reboot it")
	assert.NotContains(t, msg, "node2")
	assert.Empty(t, changes(res), "nothing but the read of the last outputs is declared")
}

func TestDownNodeIsNotProbed(t *testing.T) {
	h := loadHome(t)
	at(h.values, "nodes", 2)["down"] = true
	f := &fakeFacts{}
	o := h.options(t)
	o.Outputs = func(a pulumi.MockResourceArgs) resource.PropertyMap {
		if a.TypeToken == "pulumi:pulumi:StackReference" {
			return resource.PropertyMap{"outputs": resource.NewProperty(resource.PropertyMap{
				"provisionedNodes": resource.NewProperty([]resource.PropertyValue{
					resource.NewProperty("node1"), resource.NewProperty("node2"), resource.NewProperty("node3"),
				}),
			})}
		}
		return nil
	}
	res := pulumitest.Run(t, f.run, o)
	require.NoError(t, res.Err)
	require.Len(t, f.targets, 2, "the down node is not dialled")
	ref := res.ByType("pulumi:pulumi:StackReference")
	require.Len(t, ref, 1)
	assert.Equal(t, "organization/homelab/test", ref[0].InputString("name"))
	kept := 0
	for _, c := range res.ByType("command:remote:Command") {
		if strings.HasPrefix(c.Name, "node3-") {
			kept++
			assert.Contains(t, c.Request.GetIgnoreChanges(), "triggers", c.Name)
		}
	}
	assert.Equal(t, 3, kept, "a provisioned down node keeps its steps, every input ignored")
}

func TestHomeBadStackDeclaresNothing(t *testing.T) {
	h := loadHome(t)
	at(h.values, "nodes", 1)["address"] = "10.0.0.300"
	at(h.values, "networkController")["node"] = "node9"
	at(h.values, "apps", 1, "env")["BUTTONS_ADDRESS"] = "{{device:attic}}"
	at(h.values, "backups", "sources", 0)["schedule"] = "61 * * * *"
	at(h.values, "apps", 2, "pvc")["size"] = "lots"
	delete(h.secrets, "resticPassword")

	res := pulumitest.Run(t, Home, h.options(t))
	require.Error(t, res.Err)
	for _, path := range []string{
		"nodes[1].address: ",
		"networkController.node: ",
		"apps[1].env.BUTTONS_ADDRESS: ",
		"backups.sources[0].schedule: ",
		"apps[2].pvc.size: ",
		"resticPassword: ",
	} {
		assert.Contains(t, res.Err.Error(), path)
	}
	assert.Contains(t, res.Err.Error(), "(6 problems)")
	assert.Empty(t, res.Resources, "a bad stack declares nothing")
}

func TestUpgradesRunOneNodeAtATime(t *testing.T) {
	h := loadHome(t)
	at(h.values, "system")["upgradeEpoch"] = 3
	f := &fakeFacts{}
	res := pulumitest.Run(t, f.run, h.options(t))
	require.NoError(t, res.Err)
	urn := func(node string) string {
		return "urn:pulumi:test::homelab::homelab:index:RemoteNode$command:remote:Command::" + node + "-upgrade"
	}
	up2 := res.Get(t, "command:remote:Command", "node2-upgrade")
	up3 := res.Get(t, "command:remote:Command", "node3-upgrade")
	assert.Contains(t, up2.Request.GetDependencies(), urn("node1"))
	assert.Contains(t, up3.Request.GetDependencies(), urn("node2"))
	assert.NotContains(t, res.Get(t, "command:remote:Command", "node1-upgrade").Request.GetDependencies(), urn("node3"))
	assert.Contains(t, fmt.Sprint(up2.Inputs["triggers"]), "epoch=3")
}

// No step of any component keys its triggers on a secret: the real command
// plugin fails the preview when that secret is not known yet. Run over the
// whole home stack, so every component is covered as it lands.
func TestNoStepPutsASecretInTriggers(t *testing.T) {
	for _, dryRun := range []bool{true, false} {
		f := &fakeFacts{}
		o := loadHome(t).options(t)
		o.DryRun = dryRun
		res := pulumitest.Run(t, f.run, o)
		require.NoError(t, res.Err)
		require.NotEmpty(t, res.ByType("command:remote:Command"))
		assert.Empty(t, res.SecretTriggers(), "steps with a secret in triggers (preview: %v)", dryRun)
	}
}

// Bumping the upgrade epoch while a node is down must not create that node's
// upgrade step: it would dial the dead host and fail the whole run.
func TestDownNodeGetsNoNewSteps(t *testing.T) {
	h := loadHome(t)
	at(h.values, "nodes", 2)["down"] = true
	at(h.values, "system")["upgradeEpoch"] = 4
	f := &fakeFacts{}
	o := h.options(t)
	steps := func(names ...string) resource.PropertyValue {
		var l []resource.PropertyValue
		for _, n := range names {
			l = append(l, resource.NewProperty(n))
		}
		return resource.NewProperty(l)
	}
	o.Outputs = func(a pulumi.MockResourceArgs) resource.PropertyMap {
		if a.TypeToken == "pulumi:pulumi:StackReference" {
			return resource.PropertyMap{"outputs": resource.NewProperty(resource.PropertyMap{
				"provisionedNodes": steps("node1", "node2", "node3"),
				"provisionedSteps": resource.NewProperty(resource.PropertyMap{
					"node3": steps("static-ip", "confirm-ip", "base"),
				}),
			})}
		}
		return nil
	}
	res := pulumitest.Run(t, f.run, o)
	require.NoError(t, res.Err)
	var node3 []string
	for _, c := range res.ByType("command:remote:Command") {
		if strings.HasPrefix(c.Name, "node3-") {
			node3 = append(node3, c.Name)
		}
	}
	assert.ElementsMatch(t, []string{"node3-static-ip", "node3-confirm-ip", "node3-base"}, node3)
	res.Get(t, "command:remote:Command", "node2-upgrade") // the live nodes upgrade
}

// changes are the resources a run declared other than reads of the stack's
// own last outputs.
func changes(res *pulumitest.Result) []string {
	var out []string
	for _, r := range res.Resources {
		if r.Type != "pulumi:pulumi:StackReference" {
			out = append(out, r.Type+" "+r.Name)
		}
	}
	return out
}

// A node renumbered in config is still at its old static address until its
// static-ip step has run: the probe tries the address it had last too.
func TestRenumberedNodeIsProbedAtItsLastAddress(t *testing.T) {
	f := &fakeFacts{}
	o := loadHome(t).options(t)
	o.Outputs = func(a pulumi.MockResourceArgs) resource.PropertyMap {
		if a.TypeToken == "pulumi:pulumi:StackReference" {
			return resource.PropertyMap{"outputs": resource.NewProperty(resource.PropertyMap{
				"staticAddresses": resource.NewProperty(resource.PropertyMap{"node1": resource.NewProperty("192.168.1.99")}),
			})}
		}
		return nil
	}
	res := pulumitest.Run(t, f.run, o)
	require.NoError(t, res.Err)
	assert.Equal(t, []string{"192.168.1.21", "192.168.1.99", "192.168.1.121"}, f.targets[0].Addresses)
	assert.Equal(t, []string{"192.168.1.22", "192.168.1.122"}, f.targets[1].Addresses, "an address not renumbered is tried once")
}
