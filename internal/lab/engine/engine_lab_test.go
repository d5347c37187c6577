//go:build lab

package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/homeslice/homelab/internal/lab/engine"
	"github.com/homeslice/homelab/internal/lab/sshdtest"
)

// host is what the program knows of one test host.
type host struct {
	srv     *sshdtest.Server
	trigger string
	hostKey string
	// dialErrorLimit 1 keeps failing dials short
	dialErrorLimit int
}

type world struct {
	hosts    []*host
	failing  bool // add a command that exits non-zero
	tokenKey string
	// configMap, when set, adds a ConfigMap with this data (the default
	// kubernetes provider, configured by the stack's kubernetes:kubeconfig)
	configMap map[string]string
}

func (w *world) program() pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		var first remote.ConnectionArgs
		for i, h := range w.hosts {
			name := fmt.Sprintf("host%d", i)
			conn := remote.ConnectionArgs{
				Host:           pulumi.String(h.srv.Host),
				Port:           pulumi.Float64(float64(h.srv.Port)),
				User:           pulumi.String(h.srv.User),
				PrivateKey:     pulumi.String(h.srv.ClientKey),
				DialErrorLimit: pulumi.Int(h.dialErrorLimit),
			}
			if h.hostKey != "" {
				conn.HostKey = pulumi.String(h.hostKey)
			}
			if i == 0 {
				first = conn
			}
			dir := h.srv.Dir
			_, err := remote.NewCommand(ctx, name, &remote.CommandArgs{
				Connection:             conn,
				Create:                 pulumi.Sprintf("echo %s > %s/%s.created; echo created %s", h.trigger, dir, name, name),
				Delete:                 pulumi.Sprintf("echo %s >> %s/%s.deleted", h.trigger, dir, name),
				Triggers:               pulumi.Array{pulumi.String(h.trigger)},
				AddPreviousOutputInEnv: pulumi.Bool(false),
			})
			if err != nil {
				return err
			}
		}
		token, err := random.NewRandomPassword(ctx, "token", &random.RandomPasswordArgs{
			Length:  pulumi.Int(32),
			Special: pulumi.Bool(false),
			Keepers: pulumi.StringMap{"machineId": pulumi.String(w.tokenKey)},
		})
		if err != nil {
			return err
		}
		_, err = remote.NewCommand(ctx, "use-token", &remote.CommandArgs{
			Connection:             first,
			Create:                 pulumi.Sprintf("cat > %s/token; echo stored", w.hosts[0].srv.Dir),
			Stdin:                  token.Result,
			Logging:                remote.LoggingNone,
			AddPreviousOutputInEnv: pulumi.Bool(false),
		})
		if err != nil {
			return err
		}
		if w.failing {
			_, err = remote.NewCommand(ctx, "fails", &remote.CommandArgs{
				Connection: first,
				Create:     pulumi.String("echo visible-out; echo visible-err >&2; exit 4"),
				Logging:    remote.LoggingNone,
			})
			if err != nil {
				return err
			}
		}
		if w.configMap != nil {
			cm, err := corev1.NewConfigMap(ctx, "settings", &corev1.ConfigMapArgs{
				Metadata: metav1.ObjectMetaArgs{Namespace: pulumi.String("default")},
				Data:     pulumi.ToStringMap(w.configMap),
			})
			if err != nil {
				return err
			}
			ctx.Export("configMap", cm.Metadata.Name())
		}
		return nil
	}
}

func mustOK(t *testing.T, what string, r engine.Result) {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("%s: %v\n%s", what, r.Err, r.Output)
	}
}

func TestEngineRemoteCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	a, b, c := sshdtest.Start(t), sshdtest.Start(t), sshdtest.Start(t)
	w := &world{
		hosts: []*host{
			{srv: a, trigger: "a1", hostKey: a.HostKeyEd25519, dialErrorLimit: 1},
			{srv: b, trigger: "b1", hostKey: b.HostKeyECDSA, dialErrorLimit: 1},
		},
		tokenKey: "m1",
	}
	st := engine.New(t, w.program(), engine.Options{})

	start := time.Now()
	up := st.Up(ctx)
	mustOK(t, "first up", up)
	t.Logf("first up: %v", time.Since(start))
	for _, name := range []string{"host0", "host1", "token", "use-token"} {
		if ops := up.Ops(name); !slices.Equal(ops, []apitype.OpType{apitype.OpCreate}) {
			t.Errorf("first up: %s ops %v, want create", name, ops)
		}
	}
	if got := a.ReadFile("host0.created"); got != "a1\n" {
		t.Errorf("host0 script did not run on its host: %q", got)
	}
	token := a.ReadFile("token")
	if len(token) != 32 {
		t.Fatalf("token piped on stdin: %q", token)
	}
	// default logging streams a command's output to the engine; logging none does not
	var logged []string
	for _, d := range st.Diagnostics() {
		logged = append(logged, d.Message)
	}
	if all := strings.Join(logged, "\n"); !strings.Contains(all, "created host0") || strings.Contains(all, "stored") {
		t.Errorf("engine log: want host0's output and not use-token's: %q", all)
	}

	start = time.Now()
	mustOK(t, "preview --expect-no-changes", st.PreviewExpectNoChanges(ctx))
	t.Logf("no-op preview: %v", time.Since(start))

	// a trigger change replaces only that command, and its delete runs with the old inputs
	w.hosts[1].trigger = "b2"
	st.SetProgram(w.program())
	pre := st.Preview(ctx)
	mustOK(t, "preview after trigger change", pre)
	if got := pre.Changed(); !slices.Equal(got, []string{"host1"}) {
		t.Errorf("trigger change plans changes to %v, want only host1", got)
	}
	if ops := pre.Ops("host1"); !slices.Contains(ops, apitype.OpReplace) {
		t.Errorf("host1 preview ops %v, want a replace", ops)
	}
	up = st.Up(ctx)
	mustOK(t, "up after trigger change", up)
	if ops := up.Ops("host1"); !slices.Equal(ops, []apitype.OpType{apitype.OpCreateReplacement, apitype.OpReplace, apitype.OpDeleteReplaced}) {
		t.Errorf("host1 ops %v, want create-before-delete replace", ops)
	}
	if got := b.ReadFile("host1.created"); got != "b2\n" {
		t.Errorf("replacement created %q", got)
	}
	if got := b.ReadFile("host1.deleted"); got != "b1\n" {
		t.Errorf("delete ran with %q, want the old trigger b1", got)
	}
	if got := up.Changed(); !slices.Equal(got, []string{"host1"}) {
		t.Errorf("trigger change changed %v", got)
	}
	mustOK(t, "preview --expect-no-changes after replace", st.PreviewExpectNoChanges(ctx))

	// the token is kept until its keepers change; then a new one is drawn and the
	// command that reads it on stdin is updated (not replaced)
	w.tokenKey = "m2"
	st.SetProgram(w.program())
	up = st.Up(ctx)
	mustOK(t, "up after keeper change", up)
	if ops := up.Ops("token"); !slices.Contains(ops, apitype.OpReplace) {
		t.Errorf("keeper change: token ops %v, want a replace", ops)
	}
	if ops := up.Ops("use-token"); !slices.Equal(ops, []apitype.OpType{apitype.OpUpdate}) {
		t.Errorf("keeper change: use-token ops %v, want update", ops)
	}
	token2 := a.ReadFile("token")
	if len(token2) != 32 || token2 == token {
		t.Errorf("new token %q (old %q)", token2, token)
	}

	// a connection change (another host and port, its key pinned) is an update:
	// create runs on the new host, nothing runs on the old one
	loginsA := a.Logins()
	w.hosts[0].srv, w.hosts[0].hostKey = c, c.HostKeyEd25519
	st.SetProgram(w.program())
	up = st.Up(ctx)
	mustOK(t, "up after connection change", up)
	if ops := up.Ops("host0"); !slices.Equal(ops, []apitype.OpType{apitype.OpUpdate}) {
		t.Errorf("connection change: host0 ops %v, want update", ops)
	}
	if got := c.ReadFile("host0.created"); got != "a1\n" {
		t.Errorf("update did not run create on the new host: %q", got)
	}
	if a.ReadFile("host0.deleted") != "" {
		t.Error("connection change ran the delete script")
	}
	// use-token follows host0's connection; it is an update too and reruns on c
	if a.Logins() != loginsA {
		t.Errorf("the old host was dialed during the update (%d -> %d logins)", loginsA, a.Logins())
	}
	mustOK(t, "refresh", st.Refresh(ctx))
	mustOK(t, "preview --expect-no-changes after refresh", st.PreviewExpectNoChanges(ctx))

	// a wrong host key fails the run with the dial error
	w.hosts[1].hostKey = sshdtest.Pubkey(t)
	w.hosts[1].trigger = "b3"
	st.SetProgram(w.program())
	up = st.Up(ctx)
	if !engine.ErrContains(up.Err, "host key mismatch") {
		t.Errorf("wrong host key: err %v, want a host key mismatch\n%s", up.Err, up.Output)
	}
	if got := b.ReadFile("host1.created"); got != "b2\n" {
		t.Errorf("the command ran despite the wrong key: %q", got)
	}
	w.hosts[1].hostKey = b.HostKeyECDSA
	w.hosts[1].trigger = "b2"

	// a failing command fails the run with its stdout and stderr, logging none or not
	w.failing = true
	st.SetProgram(w.program())
	up = st.Up(ctx)
	for _, want := range []string{"Process exited with status 4", "visible-out", "visible-err"} {
		if !engine.ErrContains(up.Err, want) {
			t.Errorf("failing command: error lacks %q: %v", want, up.Err)
		}
	}

	// the token never appears in plain text, though it is in the state (encrypted)
	export, err := st.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(export), `"ciphertext"`) {
		t.Error("the export holds no encrypted secret")
	}
	st.AssertNoLeak(ctx, token)
	st.AssertNoLeak(ctx, token2)
}
