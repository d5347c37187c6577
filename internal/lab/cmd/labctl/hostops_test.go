package main

import (
	"strings"
	"testing"
)

func TestParseHostArgs(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		dir, node string
		err       string
	}{
		{args: []string{"node2"}, dir: ".lab", node: "node2"},
		{args: []string{"-state", "/x/.lab", "node3"}, dir: "/x/.lab", node: "node3"},
		{args: nil, err: "usage: scripts/lab stop NODE"},
		{args: []string{"-state", "/x/.lab"}, err: "usage: scripts/lab stop NODE"},
		{args: []string{"node1", "node2"}, err: "usage: scripts/lab stop NODE"},
		{args: []string{""}, err: "usage: scripts/lab stop NODE"},
		{args: []string{"-h"}, err: "usage: scripts/lab stop NODE"},
		{args: []string{"-force", "node1"}, err: "flag provided but not defined: -force"},
	} {
		dir, node, err := parseHostArgs("stop", tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseHostArgs(%q) = %q, %q, %v; want an error with %q", tc.args, dir, node, err, tc.err)
			}
			continue
		}
		if err != nil || dir != tc.dir || node != tc.node {
			t.Errorf("parseHostArgs(%q) = %q, %q, %v; want %q, %q", tc.args, dir, node, err, tc.dir, tc.node)
		}
	}
}

func TestEveryHostCommandHasAnOperation(t *testing.T) {
	for _, cmd := range []string{"reinstall", "stop", "start", "partition", "heal"} {
		op, ok := hostOps[cmd]
		if !ok || op.run == nil || op.did == nil || op.partitioned == nil {
			t.Errorf("%s: incomplete host operation %+v", cmd, op)
		}
		if !strings.Contains(usage, "\n  "+cmd+" NODE") {
			t.Errorf("labctl's usage does not list %s NODE", cmd)
		}
	}
}

func TestUnknownNodeNamesTheHosts(t *testing.T) {
	got := unknownNode("a1b2c3", "node9", []string{"node1", "node2", "node3"}).Error()
	if want := "no host node9 in lab a1b2c3; its hosts are node1, node2, node3"; got != want {
		t.Errorf("unknownNode = %q, want %q", got, want)
	}
	if got := unknownNode("a1b2c3", "node1", nil).Error(); !strings.Contains(got, "no hosts") {
		t.Errorf("unknownNode without hosts = %q, want it to say there are none", got)
	}
}

func TestNoLabSaysHowToMakeOne(t *testing.T) {
	dir := t.TempDir()
	_, err := readState(dir)
	if err == nil {
		t.Fatal("readState of an empty directory succeeded")
	}
	if want := "no lab is up: nothing recorded in " + dir + "; scripts/lab up makes one"; err.Error() != want {
		t.Errorf("readState = %q, want %q", err, want)
	}
}

func TestRecordedPartitionFollowsTheCommand(t *testing.T) {
	for _, tc := range []struct {
		cmd       string
		was, want bool
	}{
		{"partition", false, true},
		{"heal", true, false},
		{"stop", true, true},
		{"start", true, true},
		{"stop", false, false},
		{"reinstall", true, false},
	} {
		if got := hostOps[tc.cmd].partitioned(tc.was); got != tc.want {
			t.Errorf("%s with partitioned %v: recorded %v, want %v", tc.cmd, tc.was, got, tc.want)
		}
	}
}

func TestHostStateAndLine(t *testing.T) {
	for _, tc := range []struct {
		running, partitioned bool
		want                 string
	}{
		{true, false, "running"},
		{false, false, "stopped"},
		{true, true, "partitioned"},
		{false, true, "stopped (partitioned when started)"},
	} {
		if got := hostState(tc.running, tc.partitioned); got != tc.want {
			t.Errorf("hostState(%v, %v) = %q, want %q", tc.running, tc.partitioned, got, tc.want)
		}
	}
	got := hostLine("node2", "disk replaced", "running", true, "0123abcd", "ssh-ed25519 AAAAkey")
	if want := "node2: disk replaced; now running, machine-id 0123abcd, host key ssh-ed25519 AAAAkey"; got != want {
		t.Errorf("hostLine = %q, want %q", got, want)
	}
	if got := hostLine("node2", "power cut", "stopped", false, "x", "y"); got != "node2: power cut; now stopped" {
		t.Errorf("hostLine without identity = %q", got)
	}
}
