//go:build lab

package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	k8smeta "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/homeslice/homelab/internal/lab/controlplane"
	"github.com/homeslice/homelab/internal/lab/engine"
	"github.com/homeslice/homelab/internal/lab/sshdtest"
)

// The whole lab program — a command on a host, a RandomPassword piped on stdin and a
// ConfigMap — through the real engine, the real kubernetes provider and the lab's
// real API server.
func TestEngineLabProgram(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := engine.KubernetesProvider(); err != nil {
		t.Fatal(err)
	}
	cp, err := controlplane.Start(ctx, controlplane.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Stop)
	kubeconfig, err := cp.Kubeconfig(cp.URL())
	if err != nil {
		t.Fatal(err)
	}

	srv := sshdtest.Start(t)
	w := &world{
		hosts:     []*host{{srv: srv, trigger: "t1", hostKey: srv.HostKeyEd25519, dialErrorLimit: 1}},
		tokenKey:  "m1",
		configMap: map[string]string{"chime": "door.mp3"},
	}
	st := engine.New(t, w.program(), engine.Options{Kubernetes: true})
	if err := st.SetConfig(ctx, "kubernetes:kubeconfig", string(kubeconfig), true); err != nil {
		t.Fatal(err)
	}
	mustOK(t, "up", st.Up(ctx))
	outs, err := st.Outputs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name, _ := outs["configMap"].Value.(string)
	got, err := cp.Clientset().CoreV1().ConfigMaps("default").Get(ctx, name, k8smeta.GetOptions{})
	if err != nil {
		t.Fatalf("the ConfigMap %q is not on the API server: %v", name, err)
	}
	if got.Data["chime"] != "door.mp3" {
		t.Errorf("data = %v", got.Data)
	}
	mustOK(t, "preview --expect-no-changes", st.PreviewExpectNoChanges(ctx))

	// changed data replaces the ConfigMap (auto-named: create before delete)
	w.configMap["chime"] = "bell.mp3"
	st.SetProgram(w.program())
	up := st.Up(ctx)
	mustOK(t, "up after data change", up)
	if ops := up.Ops("settings"); !slices.Contains(ops, apitype.OpReplace) {
		t.Errorf("data change: ops %v, want a replace", ops)
	}
	if got := up.Changed(); !slices.Equal(got, []string{"settings"}) {
		t.Errorf("data change changed %v, want only the ConfigMap", got)
	}
	mustOK(t, "preview --expect-no-changes after replace", st.PreviewExpectNoChanges(ctx))

	// an object the API server rejects fails the run with the server's message
	w.configMap["not a valid key!"] = "x"
	st.SetProgram(w.program())
	up = st.Up(ctx)
	if !engine.ErrContains(up.Err, "a valid config key must consist of") {
		t.Errorf("rejected object: err %v, want the API server's message\n%s", up.Err, up.Output)
	}
	// neither the token nor the kubeconfig's client key shows in plain text
	st.AssertNoLeak(ctx, srv.ReadFile("token"))
	for _, line := range strings.Split(string(kubeconfig), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == "client-key-data" {
			st.AssertNoLeak(ctx, strings.TrimSpace(v))
		}
	}
}
