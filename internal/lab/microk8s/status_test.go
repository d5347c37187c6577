package microk8s

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestStatusFormats(t *testing.T) {
	th := newHost(t, "127.77.40.2")
	th.install()
	th.h.ApplyLauncher(context.Background())

	s := th.statusYAML()
	if !s.Microk8s.Running || !s.HA.Enabled || len(s.HA.Nodes) != 1 || s.HA.Nodes[0].Address != "127.0.0.1:19001" || s.HA.Nodes[0].Role != "voter" {
		t.Errorf("single-node status: %+v", s)
	}
	if s.addon("dns") != "enabled" || s.addon("ha-cluster") != "enabled" || s.addon("helm3") != "enabled" || s.addon("ingress") != "disabled" {
		t.Errorf("addons: %+v", s.Addons)
	}
	for _, a := range s.Addons {
		if a.Name == "dns" && (a.Repository != "core" || a.Description != "CoreDNS" || a.Version != "1.13.1") {
			t.Errorf("dns entry: %+v", a)
		}
	}
	raw := th.run("microk8s status --format yaml").out
	if !strings.HasPrefix(raw, "microk8s:\n  running: True\nhigh-availability:\n  enabled: True\n  nodes:\n    - address: 127.0.0.1:19001\n      role: voter\naddons:\n  - name: dns\n    repository: core\n    description: CoreDNS\n    version: 1.13.1\n    status: enabled\n") {
		t.Errorf("yaml shape:\n%s", raw)
	}
	pretty := th.run("microk8s status").out
	if !strings.HasPrefix(pretty, "microk8s is running\nhigh-availability: no\n  datastore master nodes: 127.0.0.1:19001\n  datastore standby nodes: none\naddons:\n  enabled:\n    dns                  # (core) CoreDNS\n") {
		t.Errorf("pretty:\n%s", pretty)
	}
	if r := th.run("microk8s status --format bogus"); r.code != 2 {
		t.Errorf("bad --format: exit %d", r.code)
	}
	if got := th.run("microk8s status -a nosuch").out; got != "disabled\n" {
		t.Errorf("-a unknown: %q", got)
	}

	th.must("microk8s stop")
	if !th.sd.called("systemctl stop " + AgentUnit) {
		t.Error("stop left the agent running")
	}
	if r := th.run("microk8s status"); r.code != 0 || r.out != "microk8s is not running, try microk8s start\n" {
		t.Errorf("stopped status: exit %d %q", r.code, r.out)
	}
	if r := th.run("microk8s add-node"); r.code != 1 || r.err != "microk8s is not running, try microk8s start\n" {
		t.Errorf("stopped add-node: exit %d %q", r.code, r.err)
	}
	th.must("microk8s start")
	if r := th.run("microk8s status --wait-ready --timeout 5"); r.code != 0 || !strings.HasPrefix(r.out, "microk8s is running\n") {
		t.Errorf("after start: exit %d %q", r.code, r.out)
	}
}

// A node whose address changed after clustering drops out (issues #1955, #2511).
func TestRenumberedMemberIsNotRunning(t *testing.T) {
	hs := formCluster(t, "127.77.41.2", "127.77.41.3", "127.77.41.4")
	c := hs[2]
	c.h.IP = netip.MustParseAddr("127.77.41.9")
	c.h.IPs = []netip.Addr{c.h.IP}
	if r := c.run("microk8s status --format yaml"); r.code != 1 || !strings.Contains(r.out, "running: False") {
		t.Errorf("renumbered member: exit %d\n%s", r.code, r.out)
	}
	if r := hs[0].run("microk8s status"); r.code != 0 {
		t.Errorf("the others keep running: exit %d %s", r.code, r.out)
	}
}

type kubeconfigDoc struct {
	Clusters []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server string `yaml:"server"`
			CA     string `yaml:"certificate-authority-data"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
	CurrentContext string `yaml:"current-context"`
	Users          []struct {
		Name string `yaml:"name"`
		User struct {
			Cert string `yaml:"client-certificate-data"`
			Key  string `yaml:"client-key-data"`
		} `yaml:"user"`
	} `yaml:"users"`
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConfig(t *testing.T) {
	th := newHost(t, "127.77.42.2")
	th.install()

	parse := func(out string) kubeconfigDoc {
		var k kubeconfigDoc
		if err := yaml.Unmarshal([]byte(out), &k); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if len(k.Clusters) != 1 || k.Clusters[0].Name != "microk8s-cluster" || k.CurrentContext != "microk8s" ||
			len(k.Contexts) != 1 || k.Contexts[0].Context.User != "admin" || k.Contexts[0].Context.Cluster != "microk8s-cluster" ||
			len(k.Users) != 1 || k.Users[0].Name != "admin" {
			t.Fatalf("kubeconfig shape:\n%s", out)
		}
		return k
	}

	// Without the lab's files: the node's CA signs an admin certificate.
	k := parse(th.must("microk8s config").out)
	if k.Clusters[0].Cluster.Server != "https://127.77.42.2:16443" {
		t.Errorf("server %q", k.Clusters[0].Cluster.Server)
	}
	if got := th.file("var/snap/microk8s/current/certs/ca.crt"); string(b64(t, k.Clusters[0].Cluster.CA)) != got {
		t.Error("certificate-authority-data is not certs/ca.crt")
	}
	cert, err := parseCert(b64(t, k.Users[0].User.Cert))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b64(t, k.Clusters[0].Cluster.CA))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil || cert.Subject.CommonName != "admin" {
		t.Errorf("admin certificate %s: %v", cert.Subject, err)
	}
	if k := parse(th.must("microk8s config -l").out); k.Clusters[0].Cluster.Server != "https://127.0.0.1:16443" {
		t.Errorf("-l server %q", k.Clusters[0].Cluster.Server)
	}

	// With the lab's files at CredentialsDir.
	ca, _ := newCA()
	adm, _ := sign(ca, "admin", []string{"system:masters"}, nil, nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	for name, data := range map[string][]byte{"ca.crt": ca.Cert, "client.crt": adm.Cert, "client.key": adm.Key} {
		if err := writeFile(th.h.path(filepath.Join(CredentialsDir, name)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k = parse(th.must("microk8s config").out)
	if !bytes.Equal(b64(t, k.Clusters[0].Cluster.CA), ca.Cert) || !bytes.Equal(b64(t, k.Users[0].User.Cert), adm.Cert) || !bytes.Equal(b64(t, k.Users[0].User.Key), adm.Key) {
		t.Error("config does not hand out the lab's credentials")
	}
}

func TestKubectlRunsTheConfiguredBinary(t *testing.T) {
	th := newHost(t, "127.77.43.2")
	th.install()
	dir := t.TempDir()
	rec := filepath.Join(dir, "record")
	stub := filepath.Join(dir, "kubectl")
	script := "#!/bin/sh\n{ echo \"KUBECONFIG=$KUBECONFIG\"; for a in \"$@\"; do echo \"arg=$a\"; done; } > " + rec + "\necho from-kubectl\nexit 3\n"
	if err := os.WriteFile(stub, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	th.h.Kubectl = stub
	r := th.run("microk8s kubectl get nodes -o wide")
	if r.code != 3 || r.out != "from-kubectl\n" {
		t.Fatalf("kubectl: exit %d %q %q", r.code, r.out, r.err)
	}
	got, _ := os.ReadFile(rec)
	kc := th.h.snapData("credentials", "kubectl.config")
	if want := "KUBECONFIG=" + kc + "\narg=get\narg=nodes\narg=-o\narg=wide\n"; string(got) != want {
		t.Errorf("kubectl saw\n%s\nwant\n%s", got, want)
	}
	if b, _ := os.ReadFile(kc); !bytes.Equal(b, []byte(th.must("microk8s config").out[:len(b)])) {
		t.Error("KUBECONFIG is not what microk8s config prints")
	}
	// Without a kubectl at KubectlPath it fails plainly.
	th.h.Kubectl = ""
	if r := th.run("microk8s kubectl version"); r.code != 127 {
		t.Errorf("missing kubectl: exit %d %q", r.code, r.err)
	}
}

func TestLogNeverHoldsATokenOrJoinString(t *testing.T) {
	hs := formCluster(t, "127.77.44.2", "127.77.44.3")
	a, b := hs[0], hs[1]
	js := a.addNode("--token " + tokenA + " --token-ttl 60")
	b.run("microk8s join " + js + " --worker")
	a.run("microk8s add-node -t short")
	for _, h := range hs {
		log := h.file(LogPath)
		if strings.Contains(log, tokenA) || strings.Contains(log, js) {
			t.Errorf("log on %s holds a secret:\n%s", h.h.IP, log)
		}
	}
	line := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ microk8s add-node --token \*\*\* --token-ttl 60 exit=0$`)
	if !line.MatchString(a.file(LogPath)) {
		t.Errorf("no masked add-node line:\n%s", a.file(LogPath))
	}
	if !strings.Contains(a.file(LogPath), "microk8s add-node -t *** exit=1\n") {
		t.Errorf("no failed add-node line:\n%s", a.file(LogPath))
	}
	if !strings.Contains(b.file(LogPath), "microk8s join *** --worker exit=6\n") {
		t.Errorf("no join line:\n%s", b.file(LogPath))
	}
	if !strings.Contains(a.file(LogPath), "snap install microk8s --classic --channel=1.30/stable exit=0\n") {
		t.Errorf("no install line:\n%s", a.file(LogPath))
	}
}

// TestMain dispatches on argv[0] with the root from the environment.
func TestMainDispatch(t *testing.T) {
	root := t.TempDir()
	t.Setenv(RootEnv, root)
	t.Setenv(IPEnv, "127.77.45.2")
	// systemctl must not really run: put a stub first on PATH.
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte("#!/bin/sh\necho \"$@\" >> "+filepath.Join(bin, "calls")+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"/usr/bin/snap", "install", "microk8s", "--classic", "--channel=1.29/stable"}, nil, &out, &errb); code != 0 {
		t.Fatalf("snap install: %d %s", code, errb.String())
	}
	if out.String() != "microk8s (1.29/stable) v1.29.15 from Canonical✓ installed\n" {
		t.Errorf("install output %q", out.String())
	}
	calls, _ := os.ReadFile(filepath.Join(bin, "calls"))
	if string(calls) != "daemon-reload\nenable --now "+AgentUnit+"\n" {
		t.Errorf("systemctl calls %q", calls)
	}
	out.Reset()
	if code := Main(context.Background(), []string{"/snap/bin/microk8s.config"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "server: https://127.77.45.2:16443\n") {
		t.Errorf("microk8s.config: %d %s", code, out.String())
	}
	if code := Main(context.Background(), []string{"fake-microk8s"}, nil, &out, &errb); code != 2 {
		t.Errorf("unknown argv0: %d", code)
	}
}
