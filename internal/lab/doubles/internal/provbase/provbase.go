// Package provbase holds what the plugin doubles share: property (un)marshalling
// with secrets and unknowns kept, the input diff the real providers compute, and the
// engine log.
package provbase

import (
	"context"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

var opts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, KeepResources: true, SkipNulls: true}

// Unmarshal decodes a gRPC property struct, keeping secrets and unknowns.
func Unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(s, opts)
}

// Marshal encodes a property map, keeping secrets and unknowns.
func Marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, opts)
}

// Plain strips any secret wrappers from v.
func Plain(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// String returns the string at key, or nil when it is absent, null, unknown or not a string.
func String(m resource.PropertyMap, key string) *string {
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		return nil
	}
	v = Plain(v)
	if !v.IsString() {
		return nil
	}
	s := v.StringValue()
	return &s
}

// Number returns the number at key, or nil.
func Number(m resource.PropertyMap, key string) *float64 {
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		return nil
	}
	v = Plain(v)
	if !v.IsNumber() {
		return nil
	}
	n := v.NumberValue()
	return &n
}

// Bool returns the bool at key, or nil.
func Bool(m resource.PropertyMap, key string) *bool {
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		return nil
	}
	v = Plain(v)
	if !v.IsBool() {
		return nil
	}
	b := v.BoolValue()
	return &b
}

// Object returns the object at key (secret or not), or nil.
func Object(m resource.PropertyMap, key string) resource.PropertyMap {
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		return nil
	}
	v = Plain(v)
	if !v.IsObject() {
		return nil
	}
	return v.ObjectValue()
}

// StripInternal drops the keys the engine adds that are not resource inputs.
func StripInternal(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		if k == "version" || strings.HasPrefix(string(k), "__") {
			continue
		}
		out[k] = v
	}
	return out
}

// DiffInputs compares old and new inputs the way pulumi-go-provider's inferred
// resources do: a detailed diff per changed path, turned into a replace when
// replace(key) says so; ignoreChanges paths keep their old value first.
func DiffInputs(olds, news resource.PropertyMap, ignore []string, replace func(key string) bool) (*pulumirpc.DiffResponse, error) {
	news = StripInternal(news)
	olds = StripInternal(olds)
	for _, p := range ignore {
		path, err := resource.ParsePropertyPath(p)
		if err != nil {
			return nil, err
		}
		if v, ok := path.Get(resource.NewObjectProperty(olds)); ok {
			path.Set(resource.NewObjectProperty(news), v)
		}
	}
	objDiff := olds.Diff(news)
	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
		HasDetailedDiff: true,
	}
	if objDiff == nil || !objDiff.AnyChanges() {
		return resp, nil
	}
	resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	diffs, replaces := map[string]bool{}, map[string]bool{}
	for k, d := range plugin.NewDetailedDiffFromObjectDiff(objDiff, false) {
		kind := d.Kind
		if replace(k) {
			kind = kind.AsReplace()
		}
		resp.DetailedDiff[k] = &pulumirpc.PropertyDiff{Kind: rpcKind(kind)}
		head := k
		if pp, err := resource.ParsePropertyPath(k); err == nil && len(pp) > 0 {
			if s, ok := pp[0].(string); ok {
				head = s
			}
		}
		diffs[head] = true
		if kind.IsReplace() {
			replaces[head] = true
		}
	}
	for k := range diffs {
		resp.Diffs = append(resp.Diffs, k)
	}
	for k := range replaces {
		resp.Replaces = append(resp.Replaces, k)
	}
	return resp, nil
}

func rpcKind(k plugin.DiffKind) pulumirpc.PropertyDiff_Kind {
	switch k {
	case plugin.DiffAdd:
		return pulumirpc.PropertyDiff_ADD
	case plugin.DiffAddReplace:
		return pulumirpc.PropertyDiff_ADD_REPLACE
	case plugin.DiffDelete:
		return pulumirpc.PropertyDiff_DELETE
	case plugin.DiffDeleteReplace:
		return pulumirpc.PropertyDiff_DELETE_REPLACE
	case plugin.DiffUpdateReplace:
		return pulumirpc.PropertyDiff_UPDATE_REPLACE
	default:
		return pulumirpc.PropertyDiff_UPDATE
	}
}

// Logger sends messages to the engine. Status messages are ephemeral: the engine
// shows them while the step runs; the event stream still carries them.
type Logger interface {
	Log(ctx context.Context, sev diag.Severity, urn resource.URN, msg string, status bool)
}

// HostLogger logs through the engine's host connection.
type HostLogger struct{ Host *provider.HostClient }

func (h HostLogger) Log(ctx context.Context, sev diag.Severity, urn resource.URN, msg string, status bool) {
	if h.Host == nil {
		return
	}
	if status {
		_ = h.Host.LogStatus(ctx, sev, urn, msg)
		return
	}
	_ = h.Host.Log(ctx, sev, urn, msg)
}

// NopLogger drops everything.
type NopLogger struct{}

func (NopLogger) Log(context.Context, diag.Severity, resource.URN, string, bool) {}

// Plugin answers the provider-level calls alike for both doubles: neither
// takes provider configuration; both accept secrets, previews and resource
// references, as the real plugins do. Embed it in a provider's server.
type Plugin struct {
	pulumirpc.UnimplementedResourceProviderServer
	Version string
	Schema  string
}

func (p *Plugin) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: p.Version}, nil
}

func (p *Plugin) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: p.Schema}, nil
}

func (p *Plugin) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *Plugin) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *Plugin) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true, AcceptResources: true}, nil
}

func (p *Plugin) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// OldInputs returns the inputs a Diff compares against: the recorded old
// inputs, or, from an engine that sends none, the old state less the
// provider's own outputs.
func OldInputs(req *pulumirpc.DiffRequest, outputs ...string) (resource.PropertyMap, error) {
	if req.GetOldInputs() != nil {
		return Unmarshal(req.GetOldInputs())
	}
	olds, err := Unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	for _, k := range outputs {
		delete(olds, resource.PropertyKey(k))
	}
	return olds, nil
}
