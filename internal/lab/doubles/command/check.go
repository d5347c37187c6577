package command

import (
	"context"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	pb "github.com/homeslice/homelab/internal/lab/doubles/internal/provbase"
)

// Check does what the real provider's does (pulumi-go-provider's DefaultCheck,
// plus CopyToRemote's source rules): it type-checks the inputs against the
// schema and fills the schema's defaults, which so land in state. Secrets stay as they came and the
// connection is made one. On failures the inputs come back without defaults.
func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	tok, err := tokenOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := pb.Unmarshal(req.GetNews())
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
