package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/homeslice/homelab/internal/lab/hosts"
)

// hostOp is one of the scenario API's host operations, as a person runs it on the lab
// scripts/lab up made.
type hostOp struct {
	run func(*hosts.Host, context.Context) error // a method expression of hosts.Host
	// did says what happened to the machine, for the one line the command prints.
	did func(*hosts.Host) string
	// partitioned is the host's recorded partition afterwards: keep leaves it.
	partitioned func(was bool) bool
}

func keep(was bool) bool { return was }

var hostOps = map[string]hostOp{
	"reinstall": {
		run: (*hosts.Host).Reinstall,
		did: func(h *hosts.Host) string {
			return fmt.Sprintf("disk replaced and the OS reinstalled at %s", h.IP())
		},
		partitioned: func(bool) bool { return false }, // a fresh install is booted connected
	},
	"stop": {
		run:         (*hosts.Host).Stop,
		did:         func(*hosts.Host) string { return "power cut, the disk kept" },
		partitioned: keep,
	},
	"start": {
		run:         (*hosts.Host).Start,
		did:         func(*hosts.Host) string { return "powered on" },
		partitioned: keep,
	},
	"partition": {
		run:         (*hosts.Host).Partition,
		did:         func(*hosts.Host) string { return "network cable pulled (everything but loopback dropped)" },
		partitioned: func(bool) bool { return true },
	},
	"heal": {
		run:         (*hosts.Host).Heal,
		did:         func(*hosts.Host) string { return "network cable plugged back in" },
		partitioned: func(bool) bool { return false },
	},
}

// hostCommand runs `labctl <cmd> [-state DIR] NODE`.
func hostCommand(ctx context.Context, cmd string, args []string) error {
	op, ok := hostOps[cmd]
	if !ok {
		return fmt.Errorf("unknown host command %q", cmd)
	}
	dir, node, err := parseHostArgs(cmd, args)
	if err != nil {
		return err
	}
	st, n, err := attach(ctx, dir)
	if err != nil {
		return err
	}
	h := n.Host(node)
	if h == nil {
		var names []string
		for _, h := range n.Hosts() {
			names = append(names, h.Name())
		}
		return unknownNode(st.Lab, node, names)
	}
	if n.Signer() == nil && (cmd == "reinstall" || cmd == "start") {
		return fmt.Errorf("the lab's ssh key %s/id_ed25519 is missing (up did not finish?): scripts/lab down, then up", dir)
	}
	if err := op.run(h, ctx); err != nil {
		return err
	}
	was := slices.Contains(st.Partitioned, node)
	if now := op.partitioned(was); now != was {
		st.Partitioned = slices.DeleteFunc(st.Partitioned, func(s string) bool { return s == node })
		if now {
			st.Partitioned = append(st.Partitioned, node)
		}
		if err := writeState(dir, st); err != nil {
			return err
		}
	}
	fmt.Println(hostLine(h.Name(), op.did(h), hostState(h.Running(ctx), h.Partitioned()), cmd == "reinstall", h.MachineID(), h.HostKey()))
	return nil
}

// parseHostArgs reads [-state DIR] NODE.
func parseHostArgs(cmd string, args []string) (dir, node string, err error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	d := stateFlags(fs)
	usage := fmt.Errorf("usage: scripts/lab %s NODE (a host name as scripts/lab status lists it, like node2)", cmd)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", "", usage
		}
		return "", "", fmt.Errorf("%w; %w", err, usage)
	}
	if fs.NArg() != 1 || fs.Arg(0) == "" {
		return "", "", usage
	}
	return *d, fs.Arg(0), nil
}

// unknownNode names the hosts the lab has, so the person can pick one.
func unknownNode(lab, node string, names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("no host %s in lab %s: it has no hosts (scripts/lab down, then up)", node, lab)
	}
	return fmt.Errorf("no host %s in lab %s; its hosts are %s", node, lab, strings.Join(names, ", "))
}

// hostState is a host's STATE as status shows it and the host commands report it.
func hostState(running, partitioned bool) string {
	switch {
	case !running && partitioned:
		return "stopped (partitioned when started)"
	case !running:
		return "stopped"
	case partitioned:
		return "partitioned"
	}
	return "running"
}

// hostLine is the one line a host command prints: what it did and the host's state
// afterwards; with identity, the install's machine-id and host key, the key as the
// re-pin line of the next pulumi preview will show it.
func hostLine(node, did, state string, identity bool, machineID, hostKey string) string {
	line := fmt.Sprintf("%s: %s; now %s", node, did, state)
	if identity {
		line += fmt.Sprintf(", machine-id %s, host key %s", machineID, hostKey)
	}
	return line
}
