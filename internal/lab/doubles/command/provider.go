package command

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"

	pb "github.com/homeslice/homelab/internal/lab/doubles/internal/provbase"
)

// Version is the plugin version the SDK requests.
const Version = "1.2.1"

const (
	commandToken      = "command:remote:Command"
	copyToRemoteToken = "command:remote:CopyToRemote"
)

//go:embed schema.json
var schema string

// Provider is the command plugin double's gRPC server.
type Provider struct {
	pb.Plugin
	log pb.Logger
}

// New returns a provider that sends its log lines to log.
func New(log pb.Logger) *Provider {
	if log == nil {
		log = pb.NopLogger{}
	}
	return &Provider{Plugin: pb.Plugin{Version: Version, Schema: schema}, log: log}
}

func tokenOf(urn string) (string, error) {
	t := string(resource.URN(urn).Type())
	switch t {
	case commandToken, copyToRemoteToken:
		return t, nil
	}
	return "", fmt.Errorf("unknown resource type %q", t)
}

// Diff compares the old inputs with the new: only `triggers` forces a
// replacement (both resources implement Update upstream).
func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if _, err := tokenOf(req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := pb.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	olds, err := pb.OldInputs(req, "stdout", "stderr")
	if err != nil {
		return nil, err
	}
	return pb.DiffInputs(olds, news, req.GetIgnoreChanges(), func(k string) bool { return k == "triggers" })
}

func outputsOf(inputs resource.PropertyMap, stdout, stderr string) resource.PropertyMap {
	out := pb.StripInternal(inputs).Copy()
	out["stdout"] = resource.NewStringProperty(stdout)
	out["stderr"] = resource.NewStringProperty(stderr)
	if c, ok := out["connection"]; ok && !c.IsSecret() && !c.IsComputed() {
		out["connection"] = resource.MakeSecret(c)
	}
	return out
}

// Create runs `create`; a preview runs nothing and leaves stdout/stderr unknown.
func (p *Provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	tok, err := tokenOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	urn := resource.URN(req.GetUrn())
	props, err := pb.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if tok == copyToRemoteToken {
		return p.createCopy(ctx, urn, props, req.GetPreview())
	}
	id, err := resource.NewUniqueHex(urn.Name(), 8, 0)
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		out := outputsOf(props, "", "")
		computedOutputs(out)
		s, err := pb.Marshal(out)
		return &pulumirpc.CreateResponse{Id: id, Properties: s}, err
	}
	var stdout, stderr string
	if create := pb.String(props, "create"); create != nil {
		in, err := parseCommandInputs(props)
		if err != nil {
			return nil, err
		}
		stdout, stderr, err = in.run(ctx, p.log, urn, *create, "", "")
		if err != nil {
			return nil, err
		}
	}
	out, err := pb.Marshal(outputsOf(props, stdout, stderr))
	return &pulumirpc.CreateResponse{Id: id, Properties: out}, err
}

// Update runs `update`, or else `create`, with the new inputs on the new
// connection; the previous stdout/stderr feed PULUMI_COMMAND_* and are kept when
// nothing runs. A preview keeps them only while no input is unknown or changed.
func (p *Provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	tok, err := tokenOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	urn := resource.URN(req.GetUrn())
	olds, err := pb.Unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := pb.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	if tok == copyToRemoteToken {
		return p.updateCopy(ctx, urn, olds, news, req.GetPreview())
	}
	stdout, stderr := str(pb.String(olds, "stdout")), str(pb.String(olds, "stderr"))
	if req.GetPreview() {
		out := outputsOf(news, stdout, stderr)
		if inputsChanged(tok, olds, news) {
			computedOutputs(out)
		}
		s, err := pb.Marshal(out)
		return &pulumirpc.UpdateResponse{Properties: s}, err
	}
	cmd := pb.String(news, "update")
	if cmd == nil {
		cmd = pb.String(news, "create")
	}
	if cmd != nil {
		in, err := parseCommandInputs(news)
		if err != nil {
			return nil, err
		}
		stdout, stderr, err = in.run(ctx, p.log, urn, *cmd, stdout, stderr)
		if err != nil {
			return nil, err
		}
	}
	out, err := pb.Marshal(outputsOf(news, stdout, stderr))
	return &pulumirpc.UpdateResponse{Properties: out}, err
}

// Delete runs `delete` with the old state; without one it does nothing and never dials.
func (p *Provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	tok, err := tokenOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	if tok == copyToRemoteToken {
		return &emptypb.Empty{}, nil
	}
	props, err := pb.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	del := pb.String(props, "delete")
	if del == nil {
		return &emptypb.Empty{}, nil
	}
	in, err := parseCommandInputs(props)
	if err != nil {
		return nil, err
	}
	_, _, err = in.run(ctx, p.log, resource.URN(req.GetUrn()), *del,
		str(pb.String(props, "stdout")), str(pb.String(props, "stderr")))
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Read has no way to look at a host: it returns the state it was given, so a
// refresh never shows drift (as upstream).
func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
