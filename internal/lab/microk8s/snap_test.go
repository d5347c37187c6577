package microk8s

import (
	"context"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSnapInstallLifecycle(t *testing.T) {
	th := newHost(t, "127.77.0.2")
	unit := "etc/systemd/system/" + AgentUnit

	steps := []struct {
		cmd      string
		code     int
		out, err string
		check    func(t *testing.T)
	}{
		{cmd: "snap install microk8s --channel=1.30/stable", code: 1, err: classicError, check: func(t *testing.T) {
			if th.h.Installed() || th.exists("var/snap/microk8s") {
				t.Error("a refused install left microk8s behind")
			}
		}},
		{cmd: "snap install microk8s --classic --channel=9.99/stable", code: 1, err: "error: requested channel \"9.99/stable\" is not available\n"},
		{cmd: "snap install microk8s --classic --channel=1.30/stable", out: "microk8s (1.30/stable) v1.30.14 from Canonical✓ installed\n", check: func(t *testing.T) {
			for file, want := range map[string]string{
				"var/snap/microk8s/current/args/kube-apiserver":                 "--secure-port=16443\n",
				"var/snap/microk8s/current/args/cluster-agent":                  "--bind 0.0.0.0:25000\n",
				"var/snap/microk8s/current/var/kubernetes/backend/info.yaml":    "Address: 127.0.0.1:19001\n",
				"var/snap/microk8s/current/var/kubernetes/backend/cluster.yaml": "- Address: 127.0.0.1:19001\n",
				"var/snap/microk8s/current/args/certs.d/docker.io/hosts.toml":   "registry-1.docker.io",
				unit: "ExecStart=/usr/bin/snap run microk8s.daemon-cluster-agent\n",
				"var/snap/microk8s/common/etc/launcher/install.yaml": "- name: dns",
				"var/snap/microk8s/current/certs/ca.crt":             "BEGIN CERTIFICATE",
				"var/snap/microk8s/current/certs/server.crt":         "BEGIN CERTIFICATE",
			} {
				if got := th.file(file); !strings.Contains(got, want) {
					t.Errorf("%s does not contain %q:\n%s", file, want, got)
				}
			}
			if !th.exists("var/snap/microk8s/current/var/lock/ha-cluster") {
				t.Error("no var/lock/ha-cluster after install")
			}
			if !th.sd.called("systemctl enable --now " + AgentUnit) {
				t.Errorf("the agent unit was not enabled: %v", th.sd.calls)
			}
			if l, err := os.Readlink(filepath.Join(th.h.Root, "snap/bin/microk8s")); err != nil || l != "/usr/bin/snap" {
				t.Errorf("/snap/bin/microk8s -> %q, %v", l, err)
			}
		}},
		{cmd: "snap install microk8s --classic --channel=1.30/stable", err: "snap \"microk8s\" is already installed, see 'snap help refresh'\n"},
		{cmd: "snap list microk8s", out: "Name      Version   Rev   Tracking     Publisher   Notes\nmicrok8s  v1.30.14  8010  1.30/stable  canonical✓  classic\n"},
		{cmd: "snap refresh --hold microk8s", out: "General refreshes of \"microk8s\" held indefinitely\n"},
		{cmd: "snap list microk8s", check: func(t *testing.T) {
			r := th.run("snap list microk8s")
			rows := strings.Split(strings.TrimSpace(r.out), "\n")
			// facts.sh reads row 2, fields 2 (version) and 4 (channel).
			f := strings.Fields(rows[1])
			if len(rows) != 2 || f[1] != "v1.30.14" || f[3] != "1.30/stable" || f[5] != "classic,held" {
				t.Errorf("snap list row: %q", rows)
			}
		}},
		{cmd: "snap remove microk8s --purge", out: "microk8s removed\n", check: func(t *testing.T) {
			for _, p := range []string{"var/snap/microk8s", "snap/microk8s", unit, "snap/bin/microk8s"} {
				if th.exists(p) {
					t.Errorf("%s is still there after snap remove", p)
				}
			}
			if !th.sd.called("systemctl disable --now " + AgentUnit) {
				t.Errorf("the agent unit was not disabled: %v", th.sd.calls)
			}
		}},
		{cmd: "snap list microk8s", code: 1, err: "error: no matching snaps installed\n"},
		{cmd: "microk8s status", code: 1, err: "error: cannot find current revision for snap microk8s: readlink /snap/microk8s/current: no such file or directory\n"},
	}
	for _, s := range steps {
		r := th.run(s.cmd)
		if r.code != s.code {
			t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", s.cmd, r.code, s.code, r.out, r.err)
		}
		if s.out != "" && r.out != s.out {
			t.Errorf("%s: stdout\n%q\nwant\n%q", s.cmd, r.out, s.out)
		}
		if (s.err != "" || s.check == nil) && r.err != s.err {
			t.Errorf("%s: stderr\n%q\nwant\n%q", s.cmd, r.err, s.err)
		}
		if s.check != nil {
			s.check(t)
		}
	}
}

func TestInstallReadsLaunchConfig(t *testing.T) {
	const cfg = `---
version: 0.2.0
persistentClusterToken: pppppppppppppppppppppppppppppppp
extraSANs: [10.0.0.100, api.home.example]
extraKubeAPIServerArgs:
  --allow-privileged: null
  --event-ttl: 2h
containerdRegistryConfigs:
  registry.localdomain:32000: |
    server = "http://registry.localdomain:32000"
addons:
  - name: metrics-server
`
	tests := []struct {
		name     string
		files    map[string]string
		wantCode int
		check    func(t *testing.T, th *testHost, r result)
	}{{
		name:  "common .microk8s.yaml",
		files: map[string]string{"var/snap/microk8s/common/.microk8s.yaml": cfg},
		check: func(t *testing.T, th *testHost, _ result) {
			api := th.file("var/snap/microk8s/current/args/kube-apiserver")
			if strings.Contains(api, "--allow-privileged") || !strings.Contains(api, "--event-ttl=2h\n") || !strings.Contains(api, "--secure-port=16443\n") {
				t.Errorf("args/kube-apiserver:\n%s", api)
			}
			if got := th.file("var/snap/microk8s/current/args/certs.d/registry.localdomain:32000/hosts.toml"); got != "server = \"http://registry.localdomain:32000\"\n" {
				t.Errorf("hosts.toml: %q", got)
			}
			if got := th.file("var/snap/microk8s/current/credentials/persistent-cluster-tokens.txt"); got != "pppppppppppppppppppppppppppppppp\n" {
				t.Errorf("persistent tokens: %q", got)
			}
			crt, err := parseCert([]byte(th.file("var/snap/microk8s/current/certs/server.crt")))
			if err != nil {
				t.Fatal(err)
			}
			if err := crt.VerifyHostname("api.home.example"); err != nil {
				t.Errorf("server.crt lacks the extra DNS SAN: %v", err)
			}
			if err := crt.VerifyHostname("10.0.0.100"); err != nil {
				t.Errorf("server.crt lacks the extra IP SAN: %v", err)
			}
			// Addons wait for the agent, which applies install.yaml.
			if got := th.run("microk8s status -a metrics-server").out; got != "disabled\n" {
				t.Errorf("metrics-server before the agent ran: %q", got)
			}
			th.h.ApplyLauncher(context.Background())
			if got := th.run("microk8s status -a metrics-server").out; got != "enabled\n" {
				t.Errorf("metrics-server after the agent ran: %q", got)
			}
			// A user file replaces the default one: no dns.
			if got := th.run("microk8s status -a dns").out; got != "disabled\n" {
				t.Errorf("dns with a user launch config: %q", got)
			}
			if !th.exists("var/snap/microk8s/common/etc/launcher/install.yaml.applied") {
				t.Error("install.yaml was not renamed .applied")
			}
		},
	}, {
		name: "/etc/microk8s.yaml is found first",
		files: map[string]string{
			"etc/microk8s.yaml":                       "version: 0.1.0\nextraKubeletArgs:\n  --max-pods: \"50\"\n",
			"var/snap/microk8s/common/.microk8s.yaml": cfg,
		},
		check: func(t *testing.T, th *testHost, _ result) {
			if got := th.file("var/snap/microk8s/current/args/kubelet"); !strings.Contains(got, "--max-pods=50\n") {
				t.Errorf("args/kubelet: %s", got)
			}
			if th.exists("var/snap/microk8s/current/credentials/persistent-cluster-tokens.txt") {
				t.Error("the second launch file was applied too")
			}
		},
	}, {
		name:  "no launch file: the snap's default enables dns",
		files: nil,
		check: func(t *testing.T, th *testHost, _ result) {
			th.h.ApplyLauncher(context.Background())
			if got := th.run("microk8s status -a dns").out; got != "enabled\n" {
				t.Errorf("dns: %q", got)
			}
			if got := th.file("var/snap/microk8s/current/args/kubelet"); !strings.Contains(got, "--cluster-dns=10.152.183.10\n") {
				t.Errorf("args/kubelet: %s", got)
			}
		},
	}, {
		name:     "unsupported version fails the install",
		files:    map[string]string{"var/snap/microk8s/common/.microk8s.yaml": "version: 0.3.0\naddons: [{name: dns}]\n"},
		wantCode: 1,
		check: func(t *testing.T, th *testHost, r result) {
			want := "error: cannot perform the following tasks:\n- Run install hook of \"microk8s\" snap if present (run hook \"install\": Error: failed to parse config file: config file version is 0.3.0 but the maximum version supported is 0.2.0)\n"
			if r.err != want {
				t.Errorf("stderr %q\nwant %q", r.err, want)
			}
			if th.h.Installed() || th.exists("var/snap/microk8s/current") {
				t.Error("a failed install left microk8s behind")
			}
		},
	}}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := newHost(t, "127.77.1."+string(rune('2'+i)))
			for p, c := range tt.files {
				if err := writeFile(filepath.Join(th.h.Root, p), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := th.run("snap install microk8s --classic --channel=1.30")
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s %s", r.code, tt.wantCode, r.out, r.err)
			}
			tt.check(t, th, r)
		})
	}
}

func TestLauncherDropIn(t *testing.T) {
	th := newHost(t, "127.77.2.2")
	th.install()
	dir := "var/snap/microk8s/common/etc/launcher/"
	write := func(name, content string) {
		if err := writeFile(filepath.Join(th.h.Root, dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("50-kubelet.yaml", "version: 0.2.0\nextraKubeletArgs:\n  --max-pods: \"80\"\n  --read-only-port: null\n")
	write("60-bad.yaml", "version: 7.0.0\n")
	write("70-registry.yaml", "version: 0.1.0\ncontainerdRegistryConfigs:\n  registry.localdomain:32000: |\n    server = \"http://registry.localdomain:32000\"\n")
	th.h.ApplyLauncher(context.Background())

	kubelet := th.file("var/snap/microk8s/current/args/kubelet")
	if !strings.Contains(kubelet, "--max-pods=80\n") || strings.Contains(kubelet, "--read-only-port") {
		t.Errorf("args/kubelet after the drop-in:\n%s", kubelet)
	}
	for name, applied := range map[string]bool{"50-kubelet.yaml": true, "60-bad.yaml": false, "70-registry.yaml": true} {
		if got := th.exists(dir + name + ".applied"); got != applied {
			t.Errorf("%s applied: %v, want %v", name, got, applied)
		}
		if got := th.exists(dir + name); got == applied {
			t.Errorf("%s still there: %v", name, got)
		}
	}
	if !th.exists("var/snap/microk8s/current/args/certs.d/registry.localdomain:32000/hosts.toml") {
		t.Error("no hosts.toml from the drop-in")
	}
	log := th.file(LogPath)
	if !strings.Contains(log, "agent restart kubelite") || !strings.Contains(log, "maximum version supported is 0.2.0") {
		t.Errorf("log:\n%s", log)
	}
	if strings.Contains(log, "agent restart containerd") {
		t.Error("a registry config alone restarted containerd (the agent restarts nothing for it)")
	}
}

func TestCertCheckIsOverDER(t *testing.T) {
	ca, err := newCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sign(ca, "127.0.0.1", nil, []net.IP{net.ParseIP("127.0.0.1")}, nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCert(srv.Cert)
	if err != nil {
		t.Fatal(err)
	}
	got, err := certCheck(srv.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if got != derHex(c.Raw)[:12] || got == derHex(srv.Cert)[:12] || len(got) != 12 {
		t.Errorf("check %q: want sha256(DER)[:12] %q, not over the PEM %q", got, derHex(c.Raw)[:12], derHex(srv.Cert)[:12])
	}
}
