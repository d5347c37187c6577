package microk8s

import (
	"context"
	"strings"
	"testing"
)

// TestReplicationSurvivesLossOfOneMember stops one member's agent, changes the
// cluster on another, and brings it back: it catches up.
func TestReplicationSurvivesLossOfOneMember(t *testing.T) {
	hs := formCluster(t, "127.77.20.2", "127.77.20.3", "127.77.20.4")
	a, b, c := hs[0], hs[1], hs[2]

	c.stopAgent()
	a.must("microk8s enable metrics-server")
	if got := b.state().Version; got != a.state().Version {
		t.Errorf("reachable member has version %d, issuer %d", got, a.state().Version)
	}
	if c.state().Version == a.state().Version {
		t.Fatal("the member whose agent is down got the change anyway")
	}
	for _, h := range []*testHost{a, b} {
		if s := h.statusYAML(); !s.Microk8s.Running || s.addon("metrics-server") != "enabled" {
			t.Errorf("status on %s with one member down: running %v, metrics-server %q", h.h.IP, s.Microk8s.Running, s.addon("metrics-server"))
		}
	}

	// Two of three down: no quorum, nothing runs and nothing changes.
	b.stopAgent()
	if r := a.run("microk8s status --wait-ready --timeout 1"); r.code != 1 || r.out != notRunningMsg+"\n" {
		t.Errorf("status without quorum: exit %d %q", r.code, r.out)
	}
	if r := a.run("microk8s enable ingress"); r.code != 1 {
		t.Errorf("enable without quorum: exit %d %q %q", r.code, r.out, r.err)
	}
	b.startAgent()

	c.startAgent() // the agent catches up when it starts
	if got, want := c.state().Version, a.state().Version; got != want {
		t.Fatalf("member back with version %d, want %d", got, want)
	}
	if s := c.statusYAML(); s.addon("metrics-server") != "enabled" {
		t.Errorf("status on the member that was down: metrics-server %q", s.addon("metrics-server"))
	}

	// A change made on the member that came back reaches everyone.
	c.must("microk8s disable metrics-server")
	for _, h := range hs {
		if got := h.run("microk8s status -a metrics-server").out; got != "disabled\n" {
			t.Errorf("metrics-server on %s after disabling it on %s: %q", h.h.IP, c.h.IP, got)
		}
	}

	// A member that missed a push (agent up, push lost) catches up by Sync.
	b.stopAgent()
	a.must("microk8s enable rbac")
	b.startAgent()
	a.h.Sync(context.Background())
	if got, want := b.state().Version, a.state().Version; got != want {
		t.Errorf("after Sync the member has version %d, want %d", got, want)
	}
}

func TestRebuiltNodeIsKnownUntilRemovedWithForce(t *testing.T) {
	hs := formCluster(t, "127.77.21.2", "127.77.21.3", "127.77.21.4")
	a, c := hs[0], hs[2]
	// c's disk dies: the container comes back bare, same IP.
	c.stopAgent()
	c2 := newHost(t, "127.77.21.4")
	c2.install()
	js := a.addNode("")
	if r := c2.run("microk8s join " + js); r.code != 6 || !strings.Contains(r.out, "Connection failed. Failed to retrieve dqlite cluster nodes: the joining node (127.77.21.4) is already known to dqlite (500).") {
		t.Fatalf("rebuilt node join: exit %d %q", r.code, r.out)
	}
	name := c.h.hostname()
	if r := a.run("microk8s remove-node 127.77.21.4"); r.code != 1 || r.out != "Removal failed. Node "+name+" is registered with dqlite. Please, run first 'microk8s leave' on the departing node. \nIf the node is not available anymore and will never attempt to join the cluster in the future use the '--force' flag \nto unregister the node while removing it.\n" {
		t.Errorf("remove-node without --force: exit %d %q", r.code, r.out)
	}
	if r := a.run("microk8s remove-node 127.77.21.4 extra"); r.code != 1 || r.out != "Please provide the node and the optional --force flag.\n" {
		t.Errorf("remove-node with a stray argument: exit %d %q", r.code, r.out)
	}
	if r := a.run("microk8s remove-node 127.77.21.4 --force"); r.code != 0 || r.out != "" {
		t.Fatalf("remove-node --force: exit %d %q %q", r.code, r.out, r.err)
	}
	for _, h := range hs[:2] {
		st := h.state()
		if _, ok := st.memberByIP("127.77.21.4"); ok {
			t.Errorf("%s still lists the removed member", h.h.IP)
		}
		if _, ok := st.nodeByName(name); ok {
			t.Errorf("%s still has the removed Node", h.h.IP)
		}
	}
	c2.must("microk8s join " + a.addNode(""))
	s := a.statusYAML()
	if s.roles()["127.77.21.4:19001"] != "voter" || len(s.HA.Nodes) != 3 {
		t.Errorf("after the rebuilt node re-joined: %+v", s.HA.Nodes)
	}
}

func TestRemoveNodeMessages(t *testing.T) {
	hs := formCluster(t, "127.77.22.2", "127.77.22.3")
	a := hs[0]
	cases := []struct {
		cmd  string
		code int
		out  string
	}{
		{"microk8s remove-node", 1, "Please provide the node you want to remove.\n"},
		{"microk8s remove-node ghost", 1, "Node ghost does not exist in Kubernetes.\n"},
		{"microk8s remove-node 10.9.9.9 --force", 1, "Node 10.9.9.9 does not exist in Kubernetes.\nAttempting to remove 10.9.9.9 from dqlite.\n"},
	}
	for _, c := range cases {
		if r := a.run(c.cmd); r.code != c.code || r.out != c.out {
			t.Errorf("%s: exit %d %q, want %d %q", c.cmd, r.code, r.out, c.code, c.out)
		}
	}
	// A member known to dqlite but whose Node object is gone: --force still
	// removes the dqlite entry, and says so, with exit 1.
	if err := a.h.mutate(context.Background(), func(s *State) error {
		s.Nodes = s.Nodes[:1]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := a.run("microk8s remove-node 127.77.22.3 --force")
	if r.code != 1 || r.out != "Node 127.77.22.3 does not exist in Kubernetes.\nAttempting to remove 127.77.22.3 from dqlite.\nRemoving node entry found in dqlite.\n" {
		t.Errorf("remove-node --force of a node only in dqlite: exit %d %q", r.code, r.out)
	}
	if _, ok := a.state().memberByIP("127.77.22.3"); ok {
		t.Error("the dqlite entry was not removed")
	}
}

func TestLeave(t *testing.T) {
	hs := formCluster(t, "127.77.23.2", "127.77.23.3", "127.77.23.4")
	a, c := hs[0], hs[2]
	oldCA := c.file("var/snap/microk8s/current/certs/ca.crt")
	r := c.run("microk8s leave")
	if r.code != 0 || r.out != "Generating new cluster certificates.\nWaiting for node to start.  \n" {
		t.Fatalf("leave: exit %d %q %q", r.code, r.out, r.err)
	}
	if got := c.file("var/snap/microk8s/current/var/kubernetes/backend/info.yaml"); !strings.HasPrefix(got, "Address: 127.0.0.1:19001\n") {
		t.Errorf("info.yaml after leave: %q", got)
	}
	if c.file("var/snap/microk8s/current/certs/ca.crt") == oldCA {
		t.Error("leave kept the cluster's CA")
	}
	if s := c.statusYAML(); !s.Microk8s.Running || len(s.HA.Nodes) != 1 || s.HA.Nodes[0].Address != "127.0.0.1:19001" {
		t.Errorf("status after leave: %+v", s)
	}
	for _, h := range hs[:2] {
		st := h.state()
		if _, ok := st.memberByIP("127.77.23.4"); ok || len(st.Members) != 2 {
			t.Errorf("%s still lists the member that left: %+v", h.h.IP, st.Members)
		}
		if _, ok := st.nodeByIP("127.77.23.4"); !ok {
			t.Errorf("%s dropped the Node of the member that left (it stays until remove-node)", h.h.IP)
		}
	}
	if r := c.run("microk8s leave"); r.code != 1 || r.out != "This MicroK8s deployment is not acting as a node in a cluster.\n" {
		t.Errorf("leave again: exit %d %q", r.code, r.out)
	}
	// Out of dqlite, its Node goes without --force.
	if r := a.run("microk8s remove-node " + c.h.hostname()); r.code != 0 {
		t.Errorf("remove-node after leave: exit %d %q", r.code, r.out)
	}
	// And it can join again.
	c.must("microk8s join " + a.addNode(""))

	// The only voter with peers may not leave.
	if err := a.h.withLock(func() error {
		st, _ := a.h.loadState()
		for i := range st.Members {
			if st.Members[i].IP() != "127.77.23.2" {
				st.Members[i].Role = RoleStandby
			}
		}
		return a.h.saveState(st)
	}); err != nil {
		t.Fatal(err)
	}
	r = a.run("microk8s leave")
	if r.code != 3 || r.out != "This node currently holds the only copy of the Kubernetes database so it cannot leave the cluster.\nTo remove this node you can either first remove all other nodes with 'microk8s remove-node' or\nform a highly available cluster by adding at least three nodes.\n" {
		t.Errorf("leave of the only voter: exit %d %q", r.code, r.out)
	}
}

func TestStaleRemovedMemberDoesNotComeBack(t *testing.T) {
	hs := formCluster(t, "127.77.24.2", "127.77.24.3", "127.77.24.4")
	a, b, c := hs[0], hs[1], hs[2]
	c.stopAgent()
	a.must("microk8s remove-node 127.77.24.4 --force")
	v := a.state().Version
	// The old c comes back with its old copy; nobody takes it.
	c.startAgent()
	c.h.Sync(context.Background())
	if got := a.state().Version; got != v {
		t.Errorf("a stale member changed the cluster: version %d, want %d", got, v)
	}
	if len(b.state().Members) != 2 {
		t.Errorf("b's members: %+v", b.state().Members)
	}
}
