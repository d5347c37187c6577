package command

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/homeslice/homelab/internal/lab/doubles/internal/provbase"
)

// Check does what the real provider's does (pulumi-go-provider's DefaultCheck,
// plus CopyToRemote's source rules): it refuses an unknown secret inside
// `triggers`, type-checks the inputs against the schema and fills the
// schema's defaults, which so land in state. Secrets stay as they came and the
// connection is made one. On failures the inputs come back without defaults.
func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	tok, err := tokenOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	raw, err := unknownSecretsAsComputed(req.GetNews())
	if err != nil {
		return nil, err
	}
	news, err := pb.Unmarshal(raw)
	if err != nil {
		return nil, err
	}
	c := &checker{spec: spec}
	checked := c.resource(tok, news)
	if tok == copyToRemoteToken {
		c.failures = append(c.failures, checkSource(news)...)
	}
	if len(c.failures) > 0 {
		checked = news
	}
	inputs, err := pb.Marshal(secretConnection(checked))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: c.failures}, nil
}

// secretConnection marks the connection secret, as the schema says it is.
func secretConnection(m resource.PropertyMap) resource.PropertyMap {
	c, ok := m["connection"]
	if !ok || c.IsSecret() {
		return m
	}
	m = m.Copy()
	m["connection"] = resource.MakeSecret(c)
	return m
}

// unknownSecretsAsComputed prepares the engine's inputs for unmarshalling. The
// engine sends a secret whose value is not known yet as a secret struct with no
// value, or with an unknown sentinel as the value. The real plugin fails Check
// on such a secret inside `triggers` (`triggers[0]: malformed secret: missing
// value`, pulumi's property decoder) and passes it anywhere else; elsewhere the
// value-less form becomes a secret unknown, which plugin.UnmarshalProperties
// would refuse. The request is not changed.
func unknownSecretsAsComputed(s *structpb.Struct) (*structpb.Struct, error) {
	if s == nil {
		return nil, nil
	}
	s = proto.Clone(s).(*structpb.Struct)
	for k, v := range s.GetFields() {
		if err := walkSecrets(v, resource.PropertyPath{k}); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func walkSecrets(v *structpb.Value, path resource.PropertyPath) error {
	switch {
	case v.GetListValue() != nil:
		for i, e := range v.GetListValue().GetValues() {
			if err := walkSecrets(e, with(path, i)); err != nil {
				return err
			}
		}
	case v.GetStructValue() != nil:
		return walkSecretsIn(v.GetStructValue(), path)
	}
	return nil
}

func walkSecretsIn(s *structpb.Struct, path resource.PropertyPath) error {
	fields := s.GetFields()
	signature, signed := fields[sig.Key]
	if !signed {
		for k, v := range fields {
			if err := walkSecrets(v, with(path, k)); err != nil {
				return err
			}
		}
		return nil
	}
	if signature.GetStringValue() != sig.Secret {
		return nil // an asset, archive or resource reference
	}
	value, ok := fields["value"]
	if !ok || isUnknownSentinel(value) {
		if inTriggers(path) {
			return fmt.Errorf("%s: malformed secret: missing value", path)
		}
		if !ok {
			fields["value"] = structpb.NewStringValue(sig.UnknownStringValue)
		}
		return nil
	}
	return walkSecrets(value, path)
}

func isUnknownSentinel(v *structpb.Value) bool {
	s, ok := v.GetKind().(*structpb.Value_StringValue)
	return ok && sig.IsUnknown(s.StringValue)
}

// inTriggers is true for a path below `triggers`: one of its elements, or
// something within one.
func inTriggers(path resource.PropertyPath) bool {
	return len(path) > 1 && path[0] == "triggers"
}

// with returns path extended by seg, never sharing path's backing array.
func with(path resource.PropertyPath, seg any) resource.PropertyPath {
	return append(append(resource.PropertyPath{}, path...), seg)
}
