package microk8s

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

type recordingKube struct {
	mu      sync.Mutex
	changes []AddonChange
	removed []string
	fail    string
}

func (k *recordingKube) Addon(_ context.Context, c AddonChange) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c.Name == k.fail {
		return errors.New("apply failed")
	}
	k.changes = append(k.changes, c)
	return nil
}

func (k *recordingKube) NodeRemoved(_ context.Context, name string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.removed = append(k.removed, name)
	return nil
}

func TestEnableDisable(t *testing.T) {
	th := newHost(t, "127.77.30.2")
	kube := &recordingKube{fail: "cert-manager"}
	th.h.Kube = kube
	th.install()
	th.h.ApplyLauncher(context.Background()) // the default launch config: dns

	steps := []struct {
		cmd      string
		stdin    string
		code     int
		out, err string
		after    func(t *testing.T)
	}{
		{cmd: "microk8s enable dns", out: "Addon core/dns is already enabled\n", err: "Infer repository core for addon dns\n"},
		{cmd: "microk8s enable foo", code: 1, err: "Addon foo was not found in any repository\n"},
		{cmd: "microk8s enable openebs", code: 1, out: "To use the community maintained flavor enable the respective repository:\n\n    microk8s enable community\n\n", err: "Addon openebs was not found in any repository\n"},
		{cmd: "microk8s enable community", out: "Community repository is now enabled\n", err: "Infer repository core for addon community\n"},
		{cmd: "microk8s enable openebs", out: "iscsid is not available or enabled.\nMake sure iscsi is installed on all nodes.\nTo enable iscsid: \n      sudo systemctl enable iscsid\nPlease refer to the OpenEBS prerequisites (https://docs.openebs.io/docs/next/prerequisites.html)\n", err: "Infer repository community for addon openebs\n", after: func(t *testing.T) {
			if got := th.run("microk8s status -a openebs").out; got != "disabled\n" {
				t.Errorf("openebs without iscsid: %q", got)
			}
		}},
		{cmd: "microk8s enable registry --storageclass nope", code: 1, out: "ERROR: Storage class nope doesn't exist.\n"},
		{cmd: "microk8s enable registry --storageclass microk8s-hostpath --size 10Gi", code: 1, err: "Infer repository core for addon registry\n"},
		{cmd: "microk8s enable registry:size=40Gi", after: func(t *testing.T) {
			r := th.run("microk8s status --format short")
			for _, want := range []string{"core/registry: enabled\n", "core/hostpath-storage: enabled\n", "core/storage: enabled\n"} {
				if !strings.Contains(r.out, want) {
					t.Errorf("status short lacks %q:\n%s", want, r.out)
				}
			}
			if !th.exists("var/snap/microk8s/common/default-storage") {
				t.Error("hostpath-storage made no default-storage")
			}
		}},
		{cmd: "microk8s enable registry", out: "Addon core/registry is already enabled\n", err: "Infer repository core for addon registry\n"},
		{cmd: "microk8s enable cert-manager", code: 1, after: func(t *testing.T) {
			if got := th.run("microk8s status -a cert-manager").out; got != "disabled\n" {
				t.Errorf("an addon whose objects failed to apply is %q", got)
			}
		}},
		{cmd: "microk8s disable hostpath-storage", stdin: "n\n", code: 1},
		{cmd: "microk8s enable hostpath-storage"},
		{cmd: "microk8s disable hostpath-storage:destroy-storage", out: "Disabling hostpath storage.\nStorage removed.\nStorage space reclaimed.\n", after: func(t *testing.T) {
			if th.exists("var/snap/microk8s/common/default-storage") {
				t.Error("destroy-storage left default-storage")
			}
		}},
		{cmd: "microk8s disable hostpath-storage", out: "Addon core/hostpath-storage is already disabled\n", err: "Infer repository core for addon hostpath-storage\n"},
		{cmd: "microk8s enable", code: 2},
	}
	for _, s := range steps {
		r := th.run(s.cmd, s.stdin)
		if r.code != s.code {
			t.Fatalf("%s: exit %d, want %d\nstdout %s\nstderr %s", s.cmd, r.code, s.code, r.out, r.err)
		}
		if s.out != "" && r.out != s.out {
			t.Errorf("%s: stdout\n%q\nwant\n%q", s.cmd, r.out, s.out)
		}
		if s.err != "" && r.err != s.err {
			t.Errorf("%s: stderr\n%q\nwant\n%q", s.cmd, r.err, s.err)
		}
		if s.after != nil {
			s.after(t)
		}
	}
	th.sd.iscsid = "enabled"
	r := th.must("microk8s enable openebs")
	if !strings.Contains(r.out, "Addon core/dns is already enabled\n") {
		t.Errorf("openebs did not enable its dependencies:\n%s", r.out)
	}
	if got := th.run("microk8s status -a openebs").out; got != "enabled\n" {
		t.Errorf("openebs with iscsid: %q", got)
	}
	th.must("microk8s disable registry")
	th.must("microk8s enable registry --storageclass openebs-hostpath --size 40Gi")

	var names []string
	for _, c := range kube.changes {
		names = append(names, map[bool]string{true: "+", false: "-"}[c.Enable]+c.Repository+"/"+c.Name)
	}
	// The hostpath-storage disable answered "n" still deleted the manifest.
	want := "+core/dns +core/hostpath-storage +core/registry -core/hostpath-storage +core/hostpath-storage -core/hostpath-storage +community/openebs -core/registry +core/registry"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("Kube hook calls:\n%s\nwant\n%s", got, want)
	}
	if last := kube.changes[len(kube.changes)-1]; strings.Join(last.Args, " ") != "--size=40Gi --storageclass=openebs-hostpath" {
		t.Errorf("last hook call: %+v", last)
	}
}

func TestRegistrySizeChecks(t *testing.T) {
	th := newHost(t, "127.77.31.2")
	th.install()
	cases := []struct {
		args string
		code int
		out  string
	}{
		{"registry --size 10Gi", 1, "ERROR: The size of the registry should be higher or equal to 20Gi and match the regex: (^[2-9][0-9]{1,}|^[1-9][0-9]{2,})(Gi$)\n"},
		{"registry --size 40G", 1, "ERROR: The size of the registry should be higher or equal to 20Gi and match the regex: (^[2-9][0-9]{1,}|^[1-9][0-9]{2,})(Gi$)\n"},
		{"registry:sz=40Gi", 1, "ERROR: Failed to parse arguments. Use --size and --storageclass to specify custom size and storage class.\n"},
		{"registry:size=40Gi", 0, "WARNING: This style of specifying size is deprecated. Use newer --size argument instead.\nThe registry will be created with the size of 40Gi.\nDefault storage class will be used.\n"},
	}
	for _, c := range cases {
		r := th.run("microk8s enable " + c.args)
		if r.code != c.code || !strings.HasSuffix(r.out, c.out) {
			t.Errorf("enable %s: exit %d\n%q\nwant suffix %q", c.args, r.code, r.out, c.out)
		}
	}
}

func TestAddonsReplicateButNodeFilesDoNot(t *testing.T) {
	hs := formCluster(t, "127.77.32.2", "127.77.32.3")
	a, b := hs[0], hs[1]
	a.must("microk8s enable ingress")
	a.must("microk8s enable community")
	if got := b.run("microk8s status -a ingress").out; got != "enabled\n" {
		t.Errorf("ingress on the other member: %q", got)
	}
	if got := b.run("microk8s status -a community").out; got != "disabled\n" {
		t.Errorf("the community repository is per node, got %q on the other member", got)
	}
}
