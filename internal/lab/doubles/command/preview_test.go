package command

import (
	"context"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	pb "github.com/homeslice/homelab/internal/lab/doubles/internal/provbase"
)

// In a create preview stdout and stderr are unknown; the outputs that mirror inputs
// stay as they are.
func TestCreatePreviewOutputsUnknown(t *testing.T) {
	in := props(t, map[string]any{"connection": conn("127.0.0.1", 1), "create": "echo hi"})
	resp, err := New(nil).Create(context.Background(), &pulumirpc.CreateRequest{Urn: cmdURN, Properties: in, Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := pb.Unmarshal(resp.Properties)
	for _, k := range []resource.PropertyKey{"stdout", "stderr"} {
		if !out[k].IsComputed() {
			t.Errorf("%s = %v, want unknown", k, out[k])
		}
	}
	if out["create"].StringValue() != "echo hi" || !out["connection"].IsSecret() {
		t.Errorf("outputs that mirror inputs changed: %v", out)
	}
}

// In an update preview stdout and stderr are unknown whenever an input is unknown or
// differs from the old state, as infer's markComputed has it; otherwise the old ones
// stay.
func TestUpdatePreviewComputedness(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{"connection": conn("10.0.0.1", 22), "create": "a", "stdin": "s", "environment": map[string]any{"A": "1"}}
	}
	with := func(k string, v any) map[string]any { m := base(); m[k] = v; return m }
	without := func(k string) map[string]any { m := base(); delete(m, k); return m }
	unknown := resource.MakeComputed(resource.NewStringProperty(""))
	tests := []struct {
		name    string
		news    map[string]any
		unknown map[string]resource.PropertyValue // inputs set unknown on top of news
		want    bool                              // stdout/stderr unknown
	}{
		{name: "same", news: base()},
		{name: "create changed", news: with("create", "b"), want: true},
		{name: "stdin changed", news: with("stdin", "t"), want: true},
		{name: "connection port changed", news: with("connection", conn("10.0.0.1", 2222)), want: true},
		{name: "environment value changed", news: with("environment", map[string]any{"A": "2"}), want: true},
		{name: "stdin removed", news: without("stdin"), want: true},
		// infer compares only inputs the old state has: a new one is no change on its own
		{name: "update added", news: with("update", "u")},
		{name: "stdin unknown", news: base(), unknown: map[string]resource.PropertyValue{"stdin": unknown}, want: true},
		{name: "secret stdin unknown", news: base(), unknown: map[string]resource.PropertyValue{"stdin": resource.MakeSecret(unknown)}, want: true},
		{name: "delete unknown, new", news: base(), unknown: map[string]resource.PropertyValue{"delete": unknown}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			olds := base()
			olds["stdout"], olds["stderr"] = "old-out", "old-err"
			news := resource.NewPropertyMapFromMap(tt.news)
			news["connection"] = resource.MakeSecret(news["connection"])
			for k, v := range tt.unknown {
				news[resource.PropertyKey(k)] = v
			}
			ns, _ := pb.Marshal(news)
			resp, err := New(nil).Update(context.Background(), &pulumirpc.UpdateRequest{
				Urn: cmdURN, Olds: props(t, olds), News: ns, OldInputs: props(t, base()), Preview: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			out, _ := pb.Unmarshal(resp.Properties)
			for k, old := range map[resource.PropertyKey]string{"stdout": "old-out", "stderr": "old-err"} {
				switch {
				case tt.want && !out[k].IsComputed():
					t.Errorf("%s = %v, want unknown", k, out[k])
				case !tt.want && (!out[k].IsString() || out[k].StringValue() != old):
					t.Errorf("%s = %v, want the old %q", k, out[k], old)
				}
			}
			if v := out["create"]; !sameValue(v, news["create"]) {
				t.Errorf("create output = %v, want the input %v", v, news["create"])
			}
		})
	}
}

// CopyToRemote's outputs are its inputs: a preview returns them as they are, known
// where they are known.
func TestCopyToRemotePreviewMirrorsInputs(t *testing.T) {
	const urn = "urn:pulumi:test::lab::command:remote:CopyToRemote::cp"
	text, err := resource.NewTextAsset("new")
	if err != nil {
		t.Fatal(err)
	}
	news := resource.NewPropertyMapFromMap(map[string]any{"connection": conn("127.0.0.1", 1), "remotePath": "/x"})
	news["connection"] = resource.MakeSecret(news["connection"])
	news["source"] = resource.NewAssetProperty(text)
	olds := news.Copy()
	olds["remotePath"] = resource.NewStringProperty("/old")
	ns, _ := pb.Marshal(news)
	os, _ := pb.Marshal(olds)
	resp, err := New(nil).Update(context.Background(), &pulumirpc.UpdateRequest{Urn: urn, Olds: os, News: ns, Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := pb.Unmarshal(resp.Properties)
	if !sameValue(resource.NewObjectProperty(out), resource.NewObjectProperty(news)) {
		t.Errorf("outputs = %v, want the inputs %v", out, news)
	}
}
