package command

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/homeslice/homelab/internal/lab/doubles/internal/provbase"
)

func check(t *testing.T, urn string, news *structpb.Struct) (resource.PropertyMap, []*pulumirpc.CheckFailure, error) {
	t.Helper()
	resp, err := New(nil).Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn, News: news})
	if err != nil {
		return nil, nil, err
	}
	inputs, err := pb.Unmarshal(resp.Inputs)
	if err != nil {
		t.Fatalf("check returned inputs that do not unmarshal: %v", err)
	}
	return inputs, resp.Failures, nil
}

// Check fills the schema's defaults into the connection and its proxy, so they land
// in state; what was given stays, and unknowns are left to be known.
func TestCheckFillsDefaults(t *testing.T) {
	in := resource.PropertyMap{
		"connection": resource.NewObjectProperty(resource.PropertyMap{
			"host":  resource.NewStringProperty("h"),
			"port":  resource.NewNumberProperty(2222),
			"user":  resource.MakeComputed(resource.NewStringProperty("")),
			"proxy": resource.NewObjectProperty(resource.PropertyMap{"host": resource.NewStringProperty("bastion")}),
		}),
		"stdin": resource.MakeSecret(resource.NewStringProperty("s")),
	}
	s, _ := pb.Marshal(in)
	inputs, failures, err := check(t, cmdURN, s)
	if err != nil || len(failures) > 0 {
		t.Fatalf("check: %v %v", err, failures)
	}
	conn := secretObjectOf(t, inputs["connection"])
	for k, want := range map[resource.PropertyKey]any{"port": 2222.0, "dialErrorLimit": 10.0, "perDialTimeout": 15.0} {
		if got := conn[k]; !got.IsNumber() || got.NumberValue() != want {
			t.Errorf("connection.%s = %v, want %v", k, got, want)
		}
	}
	if !conn["user"].IsComputed() {
		t.Errorf("an unknown user became %v", conn["user"])
	}
	proxy := pb.Object(conn, "proxy")
	want := resource.PropertyMap{
		"host": resource.NewStringProperty("bastion"), "user": resource.NewStringProperty("root"),
		"port": resource.NewNumberProperty(22), "dialErrorLimit": resource.NewNumberProperty(10),
		"perDialTimeout": resource.NewNumberProperty(15),
	}
	if !proxy.DeepEquals(want) {
		t.Errorf("proxy = %v, want %v", proxy, want)
	}
	if !inputs["stdin"].IsSecret() {
		t.Error("stdin lost its secretness")
	}
	// the real provider sets no default for these
	for _, k := range []resource.PropertyKey{"addPreviousOutputInEnv", "logging"} {
		if v, ok := inputs[k]; ok {
			t.Errorf("%s = %v, want it left out", k, v)
		}
	}
}

// An unknown connection stays unknown (and secret): its defaults come once it is known.
func TestCheckUnknownConnection(t *testing.T) {
	s, _ := pb.Marshal(resource.PropertyMap{"connection": resource.MakeComputed(resource.NewObjectProperty(resource.PropertyMap{}))})
	inputs, failures, err := check(t, cmdURN, s)
	if err != nil || len(failures) > 0 {
		t.Fatalf("check: %v %v", err, failures)
	}
	if c := inputs["connection"]; !c.IsSecret() || !c.SecretValue().Element.IsComputed() {
		t.Errorf("connection = %v, want a secret unknown", c)
	}
}

func TestCheckTypes(t *testing.T) {
	unknown := resource.MakeComputed(resource.NewStringProperty(""))
	withConn := func(k string, v resource.PropertyValue) resource.PropertyMap {
		c := resource.NewPropertyMapFromMap(conn("h", 22))
		c[resource.PropertyKey(k)] = v
		return resource.PropertyMap{"connection": resource.MakeSecret(resource.NewObjectProperty(c))}
	}
	with := func(k string, v resource.PropertyValue) resource.PropertyMap {
		m := resource.NewPropertyMapFromMap(map[string]any{"connection": conn("h", 22)})
		m[resource.PropertyKey(k)] = v
		return m
	}
	str, num := resource.NewStringProperty, resource.NewNumberProperty
	tests := []struct {
		name string
		news resource.PropertyMap
		want []string // failing properties
	}{
		{"port as a string", withConn("port", str("22")), []string{"connection.port"}},
		{"dialErrorLimit as a string", withConn("dialErrorLimit", str("3")), []string{"connection.dialErrorLimit"}},
		{"perDialTimeout as a bool", withConn("perDialTimeout", resource.NewBoolProperty(true)), []string{"connection.perDialTimeout"}},
		{"host as a number", withConn("host", num(1)), []string{"connection.host"}},
		{"proxy port", withConn("proxy", resource.NewObjectProperty(resource.PropertyMap{"host": str("b"), "port": str("x")})), []string{"connection.proxy.port"}},
		{"proxy without host", withConn("proxy", resource.NewObjectProperty(resource.PropertyMap{})), []string{"connection.proxy.host"}},
		{"connection a string", resource.PropertyMap{"connection": str("h")}, []string{"connection"}},
		{"logging", with("logging", str("loud")), []string{"logging"}},
		{"environment a string", with("environment", str("A=1")), []string{"environment"}},
		{"environment value", with("environment", resource.NewObjectProperty(resource.PropertyMap{"A": num(1)})), []string{"environment.A"}},
		{"triggers not an array", with("triggers", str("x")), []string{"triggers"}},
		{"create", with("create", num(5)), []string{"create"}},
		{"update", with("update", resource.NewBoolProperty(true)), []string{"update"}},
		{"delete", with("delete", resource.NewArrayProperty(nil)), []string{"delete"}},
		{"stdin", with("stdin", resource.MakeSecret(num(1))), []string{"stdin"}},
		{"addPreviousOutputInEnv", with("addPreviousOutputInEnv", str("true")), []string{"addPreviousOutputInEnv"}},
		// anything goes in triggers
		{"triggers of anything", with("triggers", resource.NewArrayProperty([]resource.PropertyValue{num(1), str("x"), resource.NewObjectProperty(resource.PropertyMap{})})), nil},
		// unknowns are typed once known
		{"unknown port", withConn("port", unknown), nil},
		{"unknown create", with("create", unknown), nil},
		{"unknown environment", with("environment", unknown), nil},
		{"unknown environment value", with("environment", resource.NewObjectProperty(resource.PropertyMap{"A": unknown})), nil},
		{"unknown triggers", with("triggers", unknown), nil},
		{"unknown logging", with("logging", unknown), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := pb.Marshal(tt.news)
			if err != nil {
				t.Fatal(err)
			}
			_, failures, err := check(t, cmdURN, s)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range failures {
				got = append(got, f.Property)
				name := f.Property[strings.LastIndex(f.Property, ".")+1:]
				if !strings.Contains(f.Reason, name) {
					t.Errorf("reason %q does not name %s", f.Reason, name)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("failures = %v, want %v", got, tt.want)
			}
		})
	}
}

// infer decodes dialErrorLimit and perDialTimeout into Go ints: a fraction is
// dropped, as the real provider does, not refused.
func TestCheckIntegersAreTruncated(t *testing.T) {
	c := conn("h", 22)
	c["dialErrorLimit"] = 1.5
	inputs, failures, err := check(t, cmdURN, props(t, map[string]any{"connection": c}))
	if err != nil || len(failures) > 0 {
		t.Fatalf("check: %v %v", err, failures)
	}
	got := secretObjectOf(t, inputs["connection"])["dialErrorLimit"]
	if !got.IsNumber() || got.NumberValue() != 1 {
		t.Errorf("dialErrorLimit = %v, want 1", got)
	}
}

// A CopyToRemote is typed the same way, on top of its source rules.
func TestCheckCopyToRemoteTypes(t *testing.T) {
	const urn = "urn:pulumi:test::lab::command:remote:CopyToRemote::cp"
	text, err := resource.NewTextAsset("x")
	if err != nil {
		t.Fatal(err)
	}
	in := resource.NewPropertyMapFromMap(map[string]any{"connection": map[string]any{"host": "h"}, "remotePath": 5.0})
	in["source"] = resource.NewAssetProperty(text)
	s, _ := pb.Marshal(in)
	_, failures, err := check(t, urn, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(failures) != 1 || failures[0].Property != "remotePath" {
		t.Errorf("failures = %v, want remotePath", failures)
	}
	in["remotePath"] = resource.NewStringProperty("/tmp/x")
	s, _ = pb.Marshal(in)
	inputs, failures, err := check(t, urn, s)
	if err != nil || len(failures) > 0 {
		t.Fatalf("check: %v %v", err, failures)
	}
	if u := secretObjectOf(t, inputs["connection"])["user"]; !u.IsString() || u.StringValue() != "root" {
		t.Errorf("connection.user = %v, want the default root", u)
	}
}

// secretObjectOf is the object inside the secret v; it fails the test when v is not one.
func secretObjectOf(t *testing.T, v resource.PropertyValue) resource.PropertyMap {
	t.Helper()
	if !v.IsSecret() || !v.SecretValue().Element.IsObject() {
		t.Fatalf("%v is not a secret object", v)
	}
	return v.SecretValue().Element.ObjectValue()
}

// Unknown secrets: the real plugin fails Check on one inside triggers only.

// The two wire forms of a secret whose value is not known yet.
func secretWithoutValue() *structpb.Value {
	return structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
		sig.Key: structpb.NewStringValue(sig.Secret),
	}})
}

func secretOfUnknown() *structpb.Value {
	return structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
		sig.Key: structpb.NewStringValue(sig.Secret),
		"value": structpb.NewStringValue(sig.UnknownStringValue),
	}})
}

func list(vs ...*structpb.Value) *structpb.Value {
	return structpb.NewListValue(&structpb.ListValue{Values: vs})
}

func object(k string, v *structpb.Value) *structpb.Value {
	return structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{k: v}})
}

// rawInputs is a command's inputs with extra raw wire fields.
func rawInputs(t *testing.T, extra map[string]*structpb.Value) *structpb.Struct {
	s := props(t, map[string]any{"connection": conn("h", 22), "create": "true"})
	for k, v := range extra {
		s.Fields[k] = v
	}
	return s
}

// A new RandomPassword in triggers fails the real plugin's Check, in either wire form
// and however deep; the path leads the message.
func TestCheckRefusesUnknownSecretInTriggers(t *testing.T) {
	for name, tt := range map[string]struct {
		triggers *structpb.Value
		path     string
	}{
		"without value":      {list(secretWithoutValue()), "triggers[0]"},
		"unknown value":      {list(structpb.NewStringValue("x"), secretOfUnknown()), "triggers[1]"},
		"in an object":       {list(object("token", secretWithoutValue())), "triggers[0].token"},
		"in a nested list":   {list(list(structpb.NewStringValue("x"), secretOfUnknown())), "triggers[0][1]"},
		"beside an unknown":  {list(structpb.NewStringValue(sig.UnknownStringValue), secretOfUnknown()), "triggers[1]"},
		"in a secret object": {list(secretObject("token", secretWithoutValue())), "triggers[0].token"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := check(t, cmdURN, rawInputs(t, map[string]*structpb.Value{"triggers": tt.triggers}))
			want := tt.path + ": malformed secret: missing value"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want %q", err, want)
			}
		})
	}
}

func secretObject(k string, v *structpb.Value) *structpb.Value {
	return structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
		sig.Key: structpb.NewStringValue(sig.Secret),
		"value": object(k, v),
	}})
}

// An unknown secret anywhere but in triggers, or a plain unknown in triggers,
// passes: the secret comes back an unknown secret.
func TestCheckPassesUnknownSecretsOutsideTriggers(t *testing.T) {
	for name, extra := range map[string]map[string]*structpb.Value{
		"stdin without value":       {"stdin": secretWithoutValue()},
		"stdin unknown value":       {"stdin": secretOfUnknown()},
		"create without value":      {"create": secretWithoutValue()},
		"environment without value": {"environment": object("TOKEN", secretWithoutValue())},
		"plain unknown in triggers": {"triggers": list(structpb.NewStringValue(sig.UnknownStringValue))},
	} {
		t.Run(name, func(t *testing.T) {
			inputs, failures, err := check(t, cmdURN, rawInputs(t, extra))
			if err != nil || len(failures) > 0 {
				t.Fatalf("check: %v %v", err, failures)
			}
			for k := range extra {
				if v := inputs[resource.PropertyKey(k)]; !v.ContainsUnknowns() {
					t.Errorf("%s = %v, want it unknown still", k, v)
				}
			}
			if s := inputs["stdin"]; extra["stdin"] != nil && !s.IsSecret() {
				t.Errorf("stdin = %v, want a secret", s)
			}
		})
	}
}
