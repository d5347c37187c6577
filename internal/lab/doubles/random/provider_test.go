package random

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/homeslice/homelab/internal/lab/doubles/internal/provbase"
)

const pwURN = "urn:pulumi:test::lab::random:index/randomPassword:RandomPassword::join"

func props(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := pb.Marshal(resource.NewPropertyMapFromMap(m))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVersion(t *testing.T) {
	info, _ := New().GetPluginInfo(context.Background(), &emptypb.Empty{})
	if info.Version != "4.21.1" {
		t.Errorf("version %s", info.Version)
	}
	s, _ := New().GetSchema(context.Background(), &pulumirpc.GetSchemaRequest{})
	if !strings.Contains(s.Schema, `"random:index/randomPassword:RandomPassword"`) {
		t.Error("schema lacks RandomPassword")
	}
}

func TestCreatePassword(t *testing.T) {
	p := New()
	for _, in := range []map[string]any{
		{"length": 32.0, "special": false},
		{"length": 8.0, "minUpper": 2.0, "minLower": 2.0, "minNumeric": 2.0, "minSpecial": 2.0, "overrideSpecial": "#"},
		{"length": 16.0, "upper": false, "special": false, "number": false},
	} {
		resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: pwURN, Properties: props(t, in)})
		if err != nil {
			t.Fatalf("%v: %v", in, err)
		}
		out, _ := pb.Unmarshal(resp.Properties)
		if !out["result"].IsSecret() || !out["bcryptHash"].IsSecret() {
			t.Fatal("result and bcryptHash must be secret")
		}
		r := pb.Plain(out["result"]).StringValue()
		if len(r) != int(in["length"].(float64)) {
			t.Errorf("%v: length of %q", in, r)
		}
		count := func(set string) int {
			n := 0
			for _, c := range r {
				if strings.ContainsRune(set, c) {
					n++
				}
			}
			return n
		}
		switch {
		case in["special"] == false && in["upper"] == false:
			if count(lowerChars) != len(r) {
				t.Errorf("only lower wanted: %q", r)
			}
		case in["special"] == false:
			if count(defaultSpecial) != 0 {
				t.Errorf("special chars in %q", r)
			}
		default:
			if count(upperChars) < 2 || count(lowerChars) < 2 || count(numericChars) < 2 || count("#") < 2 {
				t.Errorf("minimums not met: %q", r)
			}
		}
		if err := bcrypt.CompareHashAndPassword([]byte(pb.Plain(out["bcryptHash"]).StringValue()), []byte(r)); err != nil {
			t.Errorf("bcryptHash does not match result: %v", err)
		}
		if out["upper"].IsNull() || out["minLower"].IsNull() {
			t.Error("outputs must carry the defaults")
		}
	}
}

func TestTwoCreatesDiffer(t *testing.T) {
	get := func() string {
		resp, err := New().Create(context.Background(), &pulumirpc.CreateRequest{Urn: pwURN, Properties: props(t, map[string]any{"length": 32.0})})
		if err != nil {
			t.Fatal(err)
		}
		out, _ := pb.Unmarshal(resp.Properties)
		return pb.Plain(out["result"]).StringValue()
	}
	if get() == get() {
		t.Error("two passwords are equal")
	}
}

func TestPreviewResultUnknown(t *testing.T) {
	resp, err := New().Create(context.Background(), &pulumirpc.CreateRequest{Urn: pwURN, Properties: props(t, map[string]any{"length": 32.0}), Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := pb.Unmarshal(resp.Properties)
	if !out["result"].IsComputed() {
		t.Error("result should be unknown in preview")
	}
}

func TestCheck(t *testing.T) {
	for name, tt := range map[string]struct {
		in   map[string]any
		fail bool
	}{
		"ok":            {map[string]any{"length": 32.0}, false},
		"no length":     {map[string]any{"special": false}, true},
		"mins too long": {map[string]any{"length": 3.0, "minUpper": 2.0, "minLower": 2.0}, true},
	} {
		resp, err := New().Check(context.Background(), &pulumirpc.CheckRequest{Urn: pwURN, News: props(t, tt.in)})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(resp.Failures) > 0; got != tt.fail {
			t.Errorf("%s: failures %v", name, resp.Failures)
		}
	}
}

func TestDiffEveryChangeReplaces(t *testing.T) {
	base := map[string]any{"length": 32.0, "special": false, "keepers": map[string]any{"machineId": "a"}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range base {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	for name, tt := range map[string]struct {
		news     map[string]any
		replaces []string
	}{
		"same":             {base, nil},
		"explicit default": {with("upper", true), nil},
		"keeper":           {with("keepers", map[string]any{"machineId": "b"}), []string{"keepers"}},
		"length":           {with("length", 16.0), []string{"length"}},
		"special":          {with("special", true), []string{"special"}},
	} {
		resp, err := New().Diff(context.Background(), &pulumirpc.DiffRequest{Urn: pwURN, OldInputs: props(t, base), News: props(t, tt.news)})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(resp.Replaces, tt.replaces) {
			t.Errorf("%s: replaces %v, want %v", name, resp.Replaces, tt.replaces)
		}
		if (resp.Changes == pulumirpc.DiffResponse_DIFF_SOME) != (tt.replaces != nil) {
			t.Errorf("%s: changes %v", name, resp.Changes)
		}
	}
}

func TestRandomString(t *testing.T) {
	const urn = "urn:pulumi:test::lab::random:index/randomString:RandomString::s"
	resp, err := New().Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn, Properties: props(t, map[string]any{"length": 12.0, "special": false})})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := pb.Unmarshal(resp.Properties)
	if out["result"].IsSecret() || len(out["result"].StringValue()) != 12 || resp.Id != out["result"].StringValue() {
		t.Errorf("RandomString: id %q, result %v", resp.Id, out["result"])
	}
	if _, ok := out["bcryptHash"]; ok {
		t.Error("RandomString has no bcryptHash")
	}
}
