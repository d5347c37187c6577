package microk8s

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
)

// TestJoinHACluster forms a 3-node HA cluster by add-node/join and walks every
// join error on the way, in the order a run could meet them.
func TestJoinHACluster(t *testing.T) {
	a, b, c := newHost(t, "127.77.10.2"), newHost(t, "127.77.10.3"), newHost(t, "127.77.10.4")
	for _, h := range []*testHost{a, b, c} {
		h.install()
	}
	tokens := "var/snap/microk8s/current/credentials/cluster-tokens.txt"

	// add-node's check is the issuer's served certificate.
	js := a.addNode("--token " + tokenA)
	conn, err := tls.Dial("tcp", "127.77.10.2:25000", &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	served := derHex(conn.ConnectionState().PeerCertificates[0].Raw)
	conn.Close()
	if want := "127.77.10.2:25000/" + tokenA + "/" + served[:12]; js != want {
		t.Fatalf("join string %q, want %q", js, want)
	}
	if got := a.file(tokens); got != tokenA+"\n" {
		t.Fatalf("cluster-tokens.txt %q", got)
	}
	badCheck := "127.77.10.2:25000/" + tokenA + "/000000000000"

	steps := []struct {
		name string
		on   *testHost
		cmd  string
		code int
		out  string
	}{
		{"short token", a, "microk8s add-node --token abc", 1, "Invalid token size.  It must be 32 characters long.\n"},
		{"hostname", b, "microk8s join node1.local:25000/" + tokenA, 1, "Invalid connection: Invalid master IP\n"},
		{"malformed", b, "microk8s join 127.77.10.2/" + tokenA, 1, "Invalid connection: Expected format: <master_IP>:<master_PORT>/<token>[/<fingerprint>]\n"},
		{"short fingerprint", b, "microk8s join 127.77.10.2:25000/" + tokenA + "/abc", 1, "Invalid connection: Fingerprint should be at least 12 bytes\n"},
		{"fingerprint mismatch", b, "microk8s join " + badCheck, 4, "Contacting cluster at 127.77.10.2\nJoining cluster failed. Could not verify the identity of 127.77.10.2. Use '--skip-verify' to skip server certificate check.\n"},
		{"join", b, "microk8s join " + js, 0, "Contacting cluster at 127.77.10.2\nWaiting for this node to finish joining the cluster. .. ..  \nSuccessfully joined the cluster.\n"},
		{"token used up", c, "microk8s join " + js, 6, "Contacting cluster at 127.77.10.2\nConnection failed. Invalid token (500).\n"},
	}
	for _, s := range steps {
		r := s.on.run(s.cmd)
		if r.code != s.code || r.out != s.out {
			t.Fatalf("%s: exit %d, stdout\n%q\nwant exit %d\n%q\nstderr %s", s.name, r.code, r.out, s.code, s.out, r.err)
		}
		if s.name == "fingerprint mismatch" && a.file(tokens) != tokenA+"\n" {
			t.Fatal("a join refused before its request consumed the token")
		}
	}
	if got := a.file(tokens); got != "" {
		t.Errorf("single-use token still in cluster-tokens.txt after the join: %q", got)
	}
	// The joiner's own state is discarded, the cluster's CA kept.
	for _, p := range []string{"var/kubernetes/backend.backup/info.yaml", "certs/ca.crt.backup", "certs/ca.key.backup", "certs/serviceaccount.key.backup", "var/lock/no-cert-reissue"} {
		if !b.exists("var/snap/microk8s/current/" + p) {
			t.Errorf("joiner has no %s", p)
		}
	}
	if a.file("var/snap/microk8s/current/certs/ca.crt") != b.file("var/snap/microk8s/current/certs/ca.crt") {
		t.Error("the joiner's ca.crt is not the cluster's")
	}
	if !a.exists("var/snap/microk8s/current/var/lock/no-cert-reissue") {
		t.Error("the issuer has no no-cert-reissue after a join")
	}
	if got := a.file("var/snap/microk8s/current/var/kubernetes/backend/info.yaml"); !strings.HasPrefix(got, "Address: 127.77.10.2:19001\n") {
		t.Errorf("issuer info.yaml after the first join: %q", got)
	}
	if got := b.file("var/snap/microk8s/current/var/kubernetes/backend/info.yaml"); !strings.HasPrefix(got, "Address: 127.77.10.3:19001\n") {
		t.Errorf("joiner info.yaml: %q", got)
	}

	// The third node joins through the second, with a TTL token.
	js2 := b.addNode("--token-ttl 3600")
	c.must("microk8s join " + js2)
	if got := b.file(tokens); !strings.Contains(got, "|") {
		t.Errorf("a TTL token is kept with its expiry: %q", got)
	}
	for _, h := range []*testHost{a, b, c} {
		s := h.statusYAML()
		roles := s.roles()
		if !s.Microk8s.Running || !s.HA.Enabled || len(roles) != 3 {
			t.Fatalf("status on %s: %+v", h.h.IP, s)
		}
		for _, ip := range []string{"127.77.10.2", "127.77.10.3", "127.77.10.4"} {
			if roles[ip+":19001"] != "voter" {
				t.Errorf("status on %s: %s is %q, want voter", h.h.IP, ip, roles[ip+":19001"])
			}
		}
		if out := h.run("microk8s status").out; !strings.Contains(out, "high-availability: yes\n  datastore master nodes: 127.77.10.2:19001 127.77.10.3:19001 127.77.10.4:19001\n  datastore standby nodes: none\n") {
			t.Errorf("pretty status on %s:\n%s", h.h.IP, out)
		}
		if got := h.file("var/snap/microk8s/current/var/kubernetes/backend/cluster.yaml"); strings.Count(got, "Address:") != 3 {
			t.Errorf("cluster.yaml on %s:\n%s", h.h.IP, got)
		}
	}

	// A fourth control-plane node becomes a standby; a worker is no member.
	d, w := newHost(t, "127.77.10.5"), newHost(t, "127.77.10.6")
	d.install()
	w.install()
	ttlJoin := a.addNode("--token-ttl 600")
	d.must("microk8s join " + ttlJoin)
	r := w.must("microk8s join " + ttlJoin + " --worker")
	if !strings.Contains(r.out, "The node has joined the cluster and will appear in the nodes list in a few seconds.") || !strings.HasSuffix(r.out, "Successfully joined the cluster.\n") {
		t.Errorf("worker join output:\n%s", r.out)
	}
	if roles := a.statusYAML().roles(); roles["127.77.10.5:19001"] != "standby" || len(roles) != 4 {
		t.Errorf("roles after the 4th node and a worker: %v", roles)
	}
	for _, p := range []string{"var/lock/clustered.lock", "certs/ca.remote.crt", "var/lock/no-cert-reissue"} {
		if !w.exists("var/snap/microk8s/current/" + p) {
			t.Errorf("worker has no %s", p)
		}
	}
	workerCases := []struct{ cmd, out string }{
		{"microk8s status", "This MicroK8s deployment is acting as a node in a cluster.\nPlease use the control plane node.\n"},
		{"microk8s config", "This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s config on the master.\n"},
	}
	for _, wc := range workerCases {
		if r := w.run(wc.cmd); r.code != 0 || r.out != wc.out {
			t.Errorf("%s on the worker: exit %d %q", wc.cmd, r.code, r.out)
		}
	}
	if r := w.run("microk8s add-node"); r.code != 1 || r.out != "This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s add-node on the master.\n" {
		t.Errorf("add-node on the worker: exit %d %q", r.code, r.out)
	}
	if r := w.run("microk8s remove-node 127.77.10.2"); r.code != 1 || r.out != "This MicroK8s deployment is acting as a node in a cluster. Please use microk8s leave.\n" {
		t.Errorf("remove-node on the worker: exit %d %q", r.code, r.out)
	}
	st := a.state()
	if n, ok := st.nodeByIP("127.77.10.6"); !ok || !n.Worker {
		t.Errorf("the worker's Node object: %+v %v", n, ok)
	}

	// Joining yourself, and joining again while known.
	self := a.addNode("")
	if r := a.run("microk8s join " + self); r.code != 6 || !strings.HasSuffix(r.out, "Connection failed. The joining node has the same IP (127.77.10.2) as the node we contact (503).\n") {
		t.Errorf("self join: exit %d %q", r.code, r.out)
	}
	if strings.Contains(a.file(tokens), strings.Split(self, "/")[1]) {
		t.Error("a failed join left its single-use token")
	}
	again := a.addNode("")
	if r := b.run("microk8s join " + again); r.code != 6 || !strings.HasSuffix(r.out, "Connection failed. Failed to retrieve dqlite cluster nodes: the joining node (127.77.10.3) is already known to dqlite (500).\n") {
		t.Errorf("join while known: exit %d %q", r.code, r.out)
	}
}

func TestPersistentTokenNeverExpires(t *testing.T) {
	a := newHost(t, "127.77.11.2")
	const tok = "pppppppppppppppppppppppppppppppp"
	if err := writeFile(a.h.snapCommon(".microk8s.yaml"), []byte("version: 0.2.0\npersistentClusterToken: "+tok+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.install()
	crt := a.file("var/snap/microk8s/current/certs/server.crt")
	check, _ := certCheck([]byte(crt))
	for _, ip := range []string{"127.77.11.3", "127.77.11.4"} {
		j := newHost(t, ip)
		j.install()
		j.must("microk8s join 127.77.11.2:25000/" + tok + "/" + check)
	}
	if got := len(a.state().Members); got != 3 {
		t.Errorf("members after two joins with the persistent token: %d", got)
	}
}

func TestJoinFromLaunchConfig(t *testing.T) {
	a, b := newHost(t, "127.77.12.2"), newHost(t, "127.77.12.3")
	a.install()
	js := a.addNode("--token-ttl 600")
	if err := writeFile(b.h.path("/etc/microk8s.yaml"), []byte("version: 0.1.0\njoin:\n  url: "+js+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.install()
	if len(a.state().Members) != 1 {
		t.Fatal("the install hook joined (it must wait for the agent)")
	}
	b.h.ApplyLauncher(context.Background())
	if got := len(a.state().Members); got != 2 {
		t.Fatalf("members after the agent applied the join: %d\n%s", got, b.file(LogPath))
	}
	if !b.exists("var/snap/microk8s/common/etc/launcher/install.yaml.applied") {
		t.Error("install.yaml not applied")
	}
	if strings.Contains(b.file(LogPath), strings.Split(js, "/")[1]) {
		t.Error("the log holds the token")
	}
}
