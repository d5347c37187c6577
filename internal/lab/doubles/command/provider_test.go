package command

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/homeslice/homelab/internal/lab/doubles/internal/provbase"
)

const cmdURN = "urn:pulumi:test::lab::command:remote:Command::step"

// recorder keeps what the provider sent to the engine log.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) Log(_ context.Context, sev diag.Severity, _ resource.URN, msg string, status bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, string(sev)+": "+msg)
}

func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

func props(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	pm := resource.NewPropertyMapFromMap(m)
	if c, ok := pm["connection"]; ok {
		pm["connection"] = resource.MakeSecret(c)
	}
	s, err := pb.Marshal(pm)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func conn(host string, port int) map[string]any {
	return map[string]any{"host": host, "port": float64(port), "user": "root", "dialErrorLimit": 10.0, "perDialTimeout": 15.0}
}

func TestPluginInfoAndSchema(t *testing.T) {
	p := New(nil)
	info, err := p.GetPluginInfo(context.Background(), &emptypb.Empty{})
	if err != nil || info.Version != "1.2.1" {
		t.Fatalf("version = %v, %v; want 1.2.1", info, err)
	}
	s, err := p.GetSchema(context.Background(), &pulumirpc.GetSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Name      string
		Resources map[string]struct {
			InputProperties map[string]struct {
				Secret           bool
				ReplaceOnChanges bool
			}
			RequiredInputs []string
		}
		Types map[string]struct{ Properties map[string]any }
	}
	if err := json.Unmarshal([]byte(s.Schema), &spec); err != nil {
		t.Fatal(err)
	}
	cmd, ok := spec.Resources["command:remote:Command"]
	if !ok || spec.Name != "command" {
		t.Fatalf("schema lacks command:remote:Command")
	}
	if !cmd.InputProperties["connection"].Secret || !cmd.InputProperties["triggers"].ReplaceOnChanges {
		t.Errorf("connection must be secret and triggers replaceOnChanges")
	}
	for _, k := range []string{"connection", "create", "update", "delete", "environment", "stdin", "triggers", "addPreviousOutputInEnv", "logging"} {
		if _, ok := cmd.InputProperties[k]; !ok {
			t.Errorf("input %s missing", k)
		}
	}
	for _, k := range []string{"host", "port", "user", "password", "privateKey", "privateKeyPassword", "agentSocketPath", "dialErrorLimit", "perDialTimeout", "proxy", "hostKey"} {
		if _, ok := spec.Types["command:remote:Connection"].Properties[k]; !ok {
			t.Errorf("connection.%s missing", k)
		}
	}
	if _, ok := spec.Resources["command:remote:CopyToRemote"]; !ok {
		t.Error("schema lacks command:remote:CopyToRemote")
	}
}

func TestCheck(t *testing.T) {
	p := New(nil)
	tests := []struct {
		name string
		news map[string]any
		want []string // failing properties
	}{
		{"ok", map[string]any{"connection": conn("h", 22), "create": "true"}, nil},
		{"no connection", map[string]any{"create": "true"}, []string{"connection"}},
		{"no host", map[string]any{"connection": map[string]any{"port": 22.0}}, []string{"connection.host"}},
		{"bad logging", map[string]any{"connection": conn("h", 22), "logging": "loud"}, []string{"logging"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: cmdURN, News: props(t, tt.news)})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range resp.Failures {
				got = append(got, f.Property)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("failures = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckKeepsSecrets(t *testing.T) {
	p := New(nil)
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: cmdURN, News: props(t, map[string]any{"connection": conn("h", 22)})})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := pb.Unmarshal(resp.Inputs)
	if !m["connection"].IsSecret() {
		t.Error("connection lost its secretness")
	}
}

func TestDiff(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{"connection": conn("10.0.0.1", 22), "create": "a", "stdin": "s", "triggers": []any{"m1"}}
	}
	with := func(k string, v any) map[string]any { m := base(); m[k] = v; return m }
	tests := []struct {
		name         string
		olds, news   map[string]any
		changes      bool
		replaces     []string
		detailed     map[string]pulumirpc.PropertyDiff_Kind
		ignoreChange []string
	}{
		{name: "same", olds: base(), news: base()},
		{name: "create", olds: base(), news: with("create", "b"), changes: true,
			detailed: map[string]pulumirpc.PropertyDiff_Kind{"create": pulumirpc.PropertyDiff_UPDATE}},
		{name: "stdin", olds: base(), news: with("stdin", "t"), changes: true,
			detailed: map[string]pulumirpc.PropertyDiff_Kind{"stdin": pulumirpc.PropertyDiff_UPDATE}},
		{name: "connection port", olds: base(), news: with("connection", conn("10.0.0.1", 2222)), changes: true,
			// the connection is a secret: its diff is one opaque update
			detailed: map[string]pulumirpc.PropertyDiff_Kind{"connection": pulumirpc.PropertyDiff_UPDATE}},
		{name: "delete added", olds: base(), news: with("delete", "rm x"), changes: true,
			detailed: map[string]pulumirpc.PropertyDiff_Kind{"delete": pulumirpc.PropertyDiff_ADD}},
		// an element change is an update here; the SDK's replaceOnChanges
		// "triggers[*]" makes the engine replace, as with the real plugin
		{name: "trigger element", olds: base(), news: with("triggers", []any{"m2"}), changes: true,
			detailed: map[string]pulumirpc.PropertyDiff_Kind{"triggers[0]": pulumirpc.PropertyDiff_UPDATE}},
		{name: "triggers added", olds: func() map[string]any { m := base(); delete(m, "triggers"); return m }(), news: base(), changes: true,
			replaces: []string{"triggers"}, detailed: map[string]pulumirpc.PropertyDiff_Kind{"triggers": pulumirpc.PropertyDiff_ADD_REPLACE}},
		{name: "ignored", olds: base(), news: with("create", "b"), ignoreChange: []string{"create"}},
	}
	p := New(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{
				Urn: cmdURN, OldInputs: props(t, tt.olds), Olds: props(t, tt.olds), News: props(t, tt.news), IgnoreChanges: tt.ignoreChange,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Changes == pulumirpc.DiffResponse_DIFF_SOME; got != tt.changes {
				t.Errorf("changes = %v, want %v", got, tt.changes)
			}
			if !slices.Equal(resp.Replaces, tt.replaces) {
				t.Errorf("replaces = %v, want %v", resp.Replaces, tt.replaces)
			}
			got := map[string]pulumirpc.PropertyDiff_Kind{}
			for k, v := range resp.DetailedDiff {
				got[k] = v.Kind
			}
			if len(got) != len(tt.detailed) {
				t.Errorf("detailed = %v, want %v", got, tt.detailed)
			}
			for k, v := range tt.detailed {
				if got[k] != v {
					t.Errorf("detailed[%s] = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestDiffUnknownIsUpdate(t *testing.T) {
	olds := props(t, map[string]any{"connection": conn("h", 22), "stdin": "x"})
	news := resource.NewPropertyMapFromMap(map[string]any{"connection": conn("h", 22)})
	news["connection"] = resource.MakeSecret(news["connection"])
	news["stdin"] = resource.MakeComputed(resource.NewStringProperty(""))
	ns, _ := pb.Marshal(news)
	resp, err := New(nil).Diff(context.Background(), &pulumirpc.DiffRequest{Urn: cmdURN, OldInputs: olds, Olds: olds, News: ns})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Changes != pulumirpc.DiffResponse_DIFF_SOME || resp.DetailedDiff["stdin"].GetKind() != pulumirpc.PropertyDiff_UPDATE || len(resp.Replaces) != 0 {
		t.Errorf("unknown stdin: %v", resp)
	}
}

func TestDeleteWithoutScriptNeverDials(t *testing.T) {
	// nothing listens on port 1; a dial would fail after retries
	state := props(t, map[string]any{"connection": conn("127.0.0.1", 1), "create": "true", "stdout": "", "stderr": ""})
	start := time.Now()
	if _, err := New(nil).Delete(context.Background(), &pulumirpc.DeleteRequest{Urn: cmdURN, Properties: state}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("delete took %v: it dialed", d)
	}
}

func TestCreatePreviewRunsNothing(t *testing.T) {
	in := props(t, map[string]any{"connection": conn("127.0.0.1", 1), "create": "touch /nonexistent/x"})
	resp, err := New(nil).Create(context.Background(), &pulumirpc.CreateRequest{Urn: cmdURN, Properties: in, Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Id, "step") {
		t.Errorf("id = %q, want the name and a hex suffix", resp.Id)
	}
}

func TestUpdatePreviewUnknownInputMakesOutputsUnknown(t *testing.T) {
	olds := props(t, map[string]any{"connection": conn("127.0.0.1", 1), "stdin": "x", "stdout": "old", "stderr": ""})
	news := resource.NewPropertyMapFromMap(map[string]any{"connection": conn("127.0.0.1", 1)})
	news["stdin"] = resource.MakeComputed(resource.NewStringProperty(""))
	ns, _ := pb.Marshal(news)
	resp, err := New(nil).Update(context.Background(), &pulumirpc.UpdateRequest{Urn: cmdURN, Olds: olds, News: ns, Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := pb.Unmarshal(resp.Properties)
	if !out["stdout"].IsComputed() {
		t.Errorf("stdout = %v, want unknown", out["stdout"])
	}
}

func TestClientConfigDefaults(t *testing.T) {
	c, err := parseConnection(resource.NewPropertyMapFromMap(map[string]any{"host": "h"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 22 || c.User != "root" || c.DialErrorLimit != 10 || c.PerDialTimeout != 15 {
		t.Errorf("defaults: %+v", c)
	}
	cfg, err := c.clientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Timeout != 15*time.Second || cfg.HostKeyAlgorithms != nil {
		t.Errorf("timeout %v, host key algorithms %v", cfg.Timeout, cfg.HostKeyAlgorithms)
	}
	c.HostKey = ptr("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=")
	cfg, err = c.clientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.HostKeyAlgorithms, []string{"ecdsa-sha2-nistp256"}) {
		t.Errorf("host key algorithms %v, want only the pinned key's", cfg.HostKeyAlgorithms)
	}
}

func ptr[T any](v T) *T { return &v }
