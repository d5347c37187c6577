package stacks

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/homeslice/homelab/components/remotenode"
)

// Home is the home-lab program. It loads and validates the whole stack
// configuration, then reads the facts of every host, before declaring
// anything: a bad stack, an unreachable host or an unpinned host key fails
// the run with every problem and changes nothing. Then it wires the
// components.
func Home(ctx *pulumi.Context) error {
	return home(ctx, remotenode.Gather)
}

func home(ctx *pulumi.Context, probe Probe) error {
	cfg, err := Load(ctx)
	if err != nil {
		return err
	}
	// The stack's last outputs are read first (a read, no change): they say
	// where a renumbered node answered last, and which dead nodes keep steps.
	last, err := readLastOutputs(ctx)
	if err != nil {
		return err
	}
	facts, err := gatherFacts(cfg, probe, last)
	if err != nil {
		return err
	}
	_, err = provisionNodes(ctx, cfg, facts, last)
	return err
}
