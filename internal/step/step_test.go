package step

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/homeslice/homelab/internal/pulumitest"
)

func TestRedo(t *testing.T) {
	m := map[string]Marker{}
	assert.Equal(t, 0, Redo(m, "base", true), "fresh host")
	m["base"] = Marker{State: "applied", Hash: "h", Redo: 3, Intact: true}
	assert.Equal(t, 3, Redo(m, "base", true), "converged: no change")
	m["base"] = Marker{State: "applied", Hash: "h", Redo: 3, Intact: false}
	assert.Equal(t, 4, Redo(m, "base", true), "edited by hand: re-run")
	m["static-ip"] = Marker{State: "rolledback", Hash: "h", Redo: 0, Intact: true}
	assert.Equal(t, 1, Redo(m, "static-ip", false), "rolled back: re-run")
	m["static-ip"] = Marker{State: "applied", Hash: "h", Redo: 1, Intact: true}
	assert.Equal(t, 2, Redo(m, "static-ip", false), "applied, but the effect is gone: re-run")
}

func TestScriptTextPassesShellcheck(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Fatal("shellcheck missing: scripts/setup unit installs it")
	}
	s := NewScript("demo", "if [[ -f /etc/hostname ]]; then changed=true; fi\nmark applied /etc/hostname\nfinish\n")
	cmd := exec.Command("shellcheck", "-s", "bash", "-")
	cmd.Stdin = strings.NewReader(s.Text(2))
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "%s", out)
	assert.Contains(t, s.Command(2), "sudo -n bash -c ")
	assert.Contains(t, s.Text(2), "step_redo=2")
	assert.Equal(t, s.Hash, NewScript("demo", s.Body).Hash, "the hash leaves the redo counter out")
}

// declare runs Declare for one node state and returns the commands declared.
func declare(t *testing.T, node Node, steps ...Step) *pulumitest.Result {
	t.Helper()
	res := pulumitest.Run(t, func(ctx *pulumi.Context) error {
		parent := &struct{ pulumi.ResourceState }{}
		if err := ctx.RegisterComponentResource("homelab:index:Test", "parent", parent); err != nil {
			return err
		}
		var prev *Declared
		for _, s := range steps {
			if s.Confirms == nil && prev != nil && s.Script.Name == "confirm" {
				s.Confirms = prev
			}
			d, err := Declare(ctx, parent, node, s)
			if err != nil {
				return err
			}
			prev = d
		}
		return nil
	}, pulumitest.Options{})
	require.NoError(t, res.Err)
	return res
}

func TestDeclareFollowsTheNodeState(t *testing.T) {
	conn := remote.ConnectionArgs{Host: pulumi.String("10.0.0.21")}
	apply := Step{Script: NewScript("apply", "finish\n"), Connection: conn, Sticks: true}
	confirm := Step{Script: NewScript("confirm", "finish\n"), Connection: conn, Sticks: true}

	up := Node{Name: "node1", State: Up, MachineID: "m1", Markers: map[string]Marker{
		"apply": {State: "applied", Hash: "h", Redo: 2, Intact: true},
	}}
	res := declare(t, up, apply, confirm)
	a := res.Get(t, "command:remote:Command", "node1-apply")
	assert.Equal(t, "{[{machine-id=m1} {redo=2}]}", fmt.Sprint(a.Inputs["triggers"]))
	_, hasDelete := a.Input("delete")
	assert.False(t, hasDelete, "no delete script")
	assert.False(t, a.Inputs["addPreviousOutputInEnv"].BoolValue())
	assert.Empty(t, a.Request.GetIgnoreChanges())
	c := res.Get(t, "command:remote:Command", "node1-confirm")
	assert.Contains(t, fmt.Sprint(c.Inputs["triggers"]), "confirms=apply@"+apply.Script.Hash+"/redo=2")
	assert.Contains(t, c.Request.GetDependencies(), "urn:pulumi:test::homelab::homelab:index:Test$command:remote:Command::node1-apply")
	assert.Equal(t, "urn:pulumi:test::homelab::homelab:index:Test::parent", c.Parent())

	kept := declare(t, Node{Name: "node1", State: DownProvisioned, Kept: []string{"apply"}}, apply, confirm)
	require.Equal(t, []string{"node1-apply"}, commandNames(kept), "a dead node keeps only the steps it had")
	assert.Subset(t, kept.Get(t, "command:remote:Command", "node1-apply").Request.GetIgnoreChanges(),
		[]string{"create", "triggers", "connection", "stdin"})

	never := declare(t, Node{Name: "node1", State: DownNever}, apply, confirm)
	assert.Empty(t, commandNames(never))
}

func commandNames(r *pulumitest.Result) []string {
	var names []string
	for _, c := range r.ByType("command:remote:Command") {
		names = append(names, c.Name)
	}
	return names
}
