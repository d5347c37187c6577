package random

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"math/big"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/emptypb"

	pb "github.com/homeslice/homelab/internal/lab/doubles/internal/provbase"
)

// Version is the plugin version the SDK requests.
const Version = "4.21.1"

const (
	passwordToken = "random:index/randomPassword:RandomPassword"
	stringToken   = "random:index/randomString:RandomString"
	// the terraform provider's default special characters
	defaultSpecial = "!@#$%&*()-_=+[]{}<>:?"
	lowerChars     = "abcdefghijklmnopqrstuvwxyz"
	upperChars     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	numericChars   = "0123456789"
)

//go:embed schema.json
var schema string

// Provider is the random plugin double's gRPC server.
type Provider struct {
	pb.Plugin
}

// New returns the provider.
func New() *Provider { return &Provider{Plugin: pb.Plugin{Version: Version, Schema: schema}} }

func checkType(urn string) (string, error) {
	t := string(resource.URN(urn).Type())
	if t != passwordToken && t != stringToken {
		return "", fmt.Errorf("unknown resource type %q", t)
	}
	return t, nil
}

// options are the generation inputs with the provider's defaults applied.
type options struct {
	Length                                     int
	Upper, Lower, Numeric, Special             bool
	MinUpper, MinLower, MinNumeric, MinSpecial int
	OverrideSpecial                            *string
}

var boolInputs = []string{"upper", "lower", "numeric", "number", "special"}
var intInputs = []string{"minUpper", "minLower", "minNumeric", "minSpecial"}

func withDefaults(in resource.PropertyMap) resource.PropertyMap {
	out := pb.StripInternal(in).Copy()
	for _, k := range boolInputs {
		if _, ok := out[resource.PropertyKey(k)]; !ok {
			out[resource.PropertyKey(k)] = resource.NewBoolProperty(true)
		}
	}
	for _, k := range intInputs {
		if _, ok := out[resource.PropertyKey(k)]; !ok {
			out[resource.PropertyKey(k)] = resource.NewNumberProperty(0)
		}
	}
	return out
}

func parseOptions(m resource.PropertyMap) (options, error) {
	m = withDefaults(m)
	l := pb.Number(m, "length")
	if l == nil {
		return options{}, errors.New("length is required")
	}
	b := func(k string) bool { v := pb.Bool(m, k); return v == nil || *v }
	n := func(k string) int {
		if v := pb.Number(m, k); v != nil {
			return int(*v)
		}
		return 0
	}
	o := options{
		Length: int(*l), Upper: b("upper"), Lower: b("lower"),
		// `number` is the deprecated spelling of `numeric`; either false turns digits off
		Numeric: b("numeric") && b("number"), Special: b("special"),
		MinUpper: n("minUpper"), MinLower: n("minLower"), MinNumeric: n("minNumeric"), MinSpecial: n("minSpecial"),
		OverrideSpecial: pb.String(m, "overrideSpecial"),
	}
	if o.Length < 1 {
		return o, fmt.Errorf("length (%d) must be at least 1", o.Length)
	}
	if sum := o.MinUpper + o.MinLower + o.MinNumeric + o.MinSpecial; sum > o.Length {
		return o, fmt.Errorf("length (%d) must be >= minUpper + minLower + minNumeric + minSpecial (%d)", o.Length, sum)
	}
	return o, nil
}

// generate draws the minimums from each class first, fills the rest from every
// enabled class, then shuffles, as the terraform random provider does.
func generate(o options) (string, error) {
	special := defaultSpecial
	if o.OverrideSpecial != nil {
		special = *o.OverrideSpecial
	}
	var all string
	var out []byte
	add := func(on bool, chars string, min int) error {
		if !on {
			return nil
		}
		all += chars
		for range min {
			c, err := pick(chars)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	}
	for _, c := range []struct {
		on    bool
		chars string
		min   int
	}{{o.Upper, upperChars, o.MinUpper}, {o.Lower, lowerChars, o.MinLower}, {o.Numeric, numericChars, o.MinNumeric}, {o.Special, special, o.MinSpecial}} {
		if err := add(c.on && c.chars != "", c.chars, c.min); err != nil {
			return "", err
		}
	}
	if all == "" {
		return "", errors.New("no characters to choose from: enable upper, lower, numeric or special")
	}
	for len(out) < o.Length {
		c, err := pick(all)
		if err != nil {
			return "", err
		}
		out = append(out, c)
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

func pick(chars string) (byte, error) {
	i, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
	if err != nil {
		return 0, err
	}
	return chars[i.Int64()], nil
}

func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if _, err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := pb.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	if _, ok := news["length"]; !ok {
		failures = append(failures, &pulumirpc.CheckFailure{Property: "length", Reason: "Missing required argument: length"})
	} else if !news.ContainsUnknowns() {
		if _, err := parseOptions(news); err != nil {
			failures = append(failures, &pulumirpc.CheckFailure{Property: "length", Reason: err.Error()})
		}
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

// Diff: every input is ForceNew upstream, so any change replaces.
func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if _, err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := pb.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	olds, err := pb.OldInputs(req, "result", "bcryptHash")
	if err != nil {
		return nil, err
	}
	// defaults on both sides, so writing a default out explicitly is no change
	return pb.DiffInputs(withDefaults(olds), withDefaults(news), req.GetIgnoreChanges(), func(string) bool { return true })
}

func (p *Provider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	tok, err := checkType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	in, err := pb.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	out := withDefaults(in)
	if req.GetPreview() {
		// the value is unknown until the real create
		out["result"] = resource.MakeComputed(resource.NewStringProperty(""))
		if tok == passwordToken {
			out["bcryptHash"] = resource.MakeComputed(resource.NewStringProperty(""))
		}
		s, err := pb.Marshal(out)
		return &pulumirpc.CreateResponse{Id: "", Properties: s}, err
	}
	o, err := parseOptions(in)
	if err != nil {
		return nil, err
	}
	result, err := generate(o)
	if err != nil {
		return nil, err
	}
	id := "none"
	if tok == passwordToken {
		hash, err := bcrypt.GenerateFromPassword([]byte(result), bcrypt.DefaultCost)
		if err != nil {
			return nil, fmt.Errorf("hashing password: %w", err)
		}
		out["result"] = resource.MakeSecret(resource.NewStringProperty(result))
		out["bcryptHash"] = resource.MakeSecret(resource.NewStringProperty(string(hash)))
	} else {
		id = result
		out["result"] = resource.NewStringProperty(result)
	}
	s, err := pb.Marshal(out)
	return &pulumirpc.CreateResponse{Id: id, Properties: s}, err
}

// Update is never needed (every change replaces) but keeps the state as it is.
func (p *Provider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	return &pulumirpc.UpdateResponse{Properties: req.GetOlds()}, nil
}

func (p *Provider) Delete(context.Context, *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// Read returns the state unchanged: a random value has nothing to refresh from.
func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}
