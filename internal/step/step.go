// Package step is the machinery every component's remote steps share. A step is
// one pulumi-command remote.Command on one node that:
//
//   - runs a script rendered by its component behind the shared lib.sh head
//     (set -euo pipefail, put_file, mark, finish), as root through sudo, with the
//     command's stdin left free for secrets;
//   - carries the node's machine-id and its redo counter in its triggers, so a
//     reinstalled host is re-provisioned and a step that did not stick runs again;
//   - has no delete script: the command provider would dial the OLD host with the
//     OLD key before any delete ran, which after a reinstall can only fail;
//   - follows the node's state: declared on a node that is up, kept with its last
//     inputs on a dead node that was provisioned, absent on one that never was;
//   - may confirm another step: its triggers then name the attempt it confirms, so
//     every new attempt of that step gets a confirm of its own.
package step

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/homeslice/homelab/internal/shell"
)

//go:embed lib.sh
var lib string

// MarkerDir is where each step records on the host what it applied.
const MarkerDir = "/var/lib/homelab/steps"

// Script is a step's rendered body and the hash of that body, which the step
// records in its marker on the host.
type Script struct {
	Name string
	Body string
	Hash string
}

// NewScript names a rendered body. The hash leaves out the redo counter, so it
// says what the step applies, not how often it ran.
func NewScript(name, body string) Script {
	sum := sha256.Sum256([]byte(body))
	return Script{Name: name, Body: body, Hash: hex.EncodeToString(sum[:8])}
}

// Command is the one command line the remote.Command runs for a given redo
// counter: the whole script as root, named homelab-<step> in bash's messages.
func (s Script) Command(redo int) string {
	return shell.Sudo("homelab-"+s.Name, s.Text(redo))
}

// Text is the whole script as it runs on the host: lib.sh, the step's identity,
// then the body. Tests run shellcheck on it.
func (s Script) Text(redo int) string {
	return "#!/usr/bin/env bash\n" + lib +
		fmt.Sprintf("step_name=%s\nstep_hash=%s\nstep_redo=%d\n", s.Name, s.Hash, redo) + s.Body
}

// Marker is what a step recorded on the host when it last ran, as the facts
// probe reads it back.
type Marker struct {
	State  string `json:"state"` // applied, pending (awaiting its confirm), rolledback
	Hash   string `json:"hash"`  // hash of the script that applied it
	Redo   int    `json:"redo"`  // how often the step was re-run after not sticking
	Intact bool   `json:"intact"`
}

// InPlace reports that the host holds exactly what the script applies: its
// marker records this script's hash, applied and intact, and the effect sticks
// (Redo would not move). Running it again would change nothing.
func InPlace(markers map[string]Marker, s Script, sticks bool) bool {
	m, ok := markers[s.Name]
	return ok && m.Hash == s.Hash && m.State == "applied" && m.Intact && sticks
}

// Redo is a step's redo counter: unchanged while its marker says it is applied
// and intact and its effect is in place (so a converged host plans nothing), one
// more when it did not stick (so the step is replaced and runs again). A changed
// script on an intact host keeps the counter: that is an update, not a redo.
func Redo(markers map[string]Marker, name string, sticks bool) int {
	m, ok := markers[name]
	if !ok {
		return 0
	}
	if m.State == "applied" && m.Intact && sticks {
		return m.Redo
	}
	return m.Redo + 1
}

// State is what the program knows of a node this run.
type State int

const (
	// Up: the node answered the probe; its facts are known.
	Up State = iota
	// DownProvisioned: marked down in config, and its steps are in the stack
	// (the stack's last outputs say so): they are kept with their last inputs,
	// and nothing dials the host.
	DownProvisioned
	// DownNever: marked down and never provisioned: no step is declared.
	DownNever
)

// Node is a step's host as the program sees it this run.
type Node struct {
	Name  string
	State State
	// MachineID is the host's identity, for the triggers; empty unless Up.
	MachineID string
	// Markers are the steps' markers the probe read; nil unless Up.
	Markers map[string]Marker
	// Kept names the steps of a DownProvisioned node that its last run left in
	// the stack; only those are declared (a down node gets no new steps).
	Kept []string
}

// Step is one remote step to declare on a node.
type Step struct {
	Script     Script
	Connection remote.ConnectionArgs
	// Sticks says the step's effect is still in place on the host beyond its
	// marker (the address is on the interface); a step with nothing more to
	// check passes true.
	Sticks bool
	// Triggers are extra replacement keys (an upgrade epoch), after the
	// machine-id and the redo counter. Never a secret: the real command
	// plugin fails the preview on a secret that is not known yet.
	Triggers []string
	// Confirms is the step this one confirms (confirm-ip confirms static-ip):
	// its script hash and redo counter join this step's triggers, so each new
	// attempt of the confirmed step is confirmed again, after it.
	Confirms *Declared
	// After are resources the step waits for (DependsOn).
	After []pulumi.Resource
	// NoRedo leaves the redo counter out: the step runs once per identity and
	// triggers (an upgrade per epoch).
	NoRedo bool
	// IgnoreChanges are inputs whose changes alone plan nothing (a connection
	// that only matters when the step runs again).
	IgnoreChanges []string
}

// Declared is a step as declared: its command, script and redo counter.
type Declared struct {
	*remote.Command
	Script Script
	Redo   int
}

// ignoreAll keeps every input of a dead node's steps as the stack holds it.
var ignoreAll = []string{
	"create", "update", "stdin", "triggers", "connection", "logging", "environment", "addPreviousOutputInEnv",
}

// Declare declares the step named <node>-<script name> under parent, as the
// node's state says. It returns nil (and no error) where no step belongs: on a
// node that was never provisioned, or a dead node's step that its last run did
// not leave in the stack.
func Declare(ctx *pulumi.Context, parent pulumi.Resource, node Node, s Step) (*Declared, error) {
	opts := []pulumi.ResourceOption{pulumi.Parent(parent), pulumi.DependsOn(s.After)}
	redo := 0
	switch node.State {
	case DownNever:
		return nil, nil
	case DownProvisioned:
		if !slices.Contains(node.Kept, s.Script.Name) {
			return nil, nil
		}
		opts = append(opts, pulumi.IgnoreChanges(ignoreAll))
	case Up:
		if !s.NoRedo {
			redo = Redo(node.Markers, s.Script.Name, s.Sticks)
		}
		if len(s.IgnoreChanges) > 0 {
			opts = append(opts, pulumi.IgnoreChanges(s.IgnoreChanges))
		}
	}
	triggers := pulumi.Array{pulumi.String("machine-id=" + node.MachineID)}
	if !s.NoRedo {
		triggers = append(triggers, pulumi.String(fmt.Sprintf("redo=%d", redo)))
	}
	for _, t := range s.Triggers {
		triggers = append(triggers, pulumi.String(t))
	}
	if c := s.Confirms; c != nil {
		triggers = append(triggers, pulumi.String(fmt.Sprintf("confirms=%s@%s/redo=%d", c.Script.Name, c.Script.Hash, c.Redo)))
		opts = append(opts, pulumi.DependsOn([]pulumi.Resource{c.Command}))
	}
	cmd, err := remote.NewCommand(ctx, node.Name+"-"+s.Script.Name, &remote.CommandArgs{
		Connection:             s.Connection,
		Create:                 pulumi.String(s.Script.Command(redo)),
		Triggers:               triggers,
		AddPreviousOutputInEnv: pulumi.Bool(false),
	}, opts...)
	if err != nil {
		return nil, err
	}
	return &Declared{Command: cmd, Script: s.Script, Redo: redo}, nil
}
