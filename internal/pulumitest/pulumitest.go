// Package pulumitest runs Pulumi programs with the SDK's mocks, so unit tests
// can assert on the resource graph a program declares: which resources, their
// inputs, parents and options. Nothing here talks to an engine or a host.
package pulumitest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Options describe one mock run.
type Options struct {
	Project string // default "homelab"
	Stack   string // default "test"
	// Config holds plain values; a key without ":" is put in the project's
	// namespace. Structured values are JSON, as the engine passes them.
	Config map[string]string
	// Secrets holds values set with --secret, keyed like Config.
	Secrets map[string]string
	// DryRun runs as a preview.
	DryRun bool
	// Outputs, when set, returns extra output properties for a resource (for
	// instance a command's stdout); inputs are echoed as outputs otherwise, and
	// a RandomPassword's result is a known secret.
	Outputs func(pulumi.MockResourceArgs) resource.PropertyMap
}

// Resource is one resource the program registered.
type Resource struct {
	Type    string
	Name    string
	ID      string
	Inputs  resource.PropertyMap
	Outputs resource.PropertyMap
	// Request is the registration as the engine would receive it: parent,
	// dependencies, ignoreChanges, retainOnDelete, additionalSecretOutputs, …
	Request *pulumirpc.RegisterResourceRequest
}

// Result is what a mock run declared, and the program's error.
type Result struct {
	Err       error
	Resources []Resource
}

// Run executes program with mocks and returns what it registered. A program
// error is returned in Result.Err, not failed on, so tests can assert on it.
func Run(t testing.TB, program pulumi.RunFunc, o Options) *Result {
	t.Helper()
	if o.Project == "" {
		o.Project = "homelab"
	}
	if o.Stack == "" {
		o.Stack = "test"
	}
	m := &mocks{outputs: o.Outputs}
	config := map[string]string{}
	var secretKeys []string
	for k, v := range o.Config {
		config[qualify(o.Project, k)] = v
	}
	for k, v := range o.Secrets {
		config[qualify(o.Project, k)] = v
		secretKeys = append(secretKeys, qualify(o.Project, k))
	}
	sort.Strings(secretKeys)
	err := pulumi.RunErr(program,
		pulumi.WithMocks(o.Project, o.Stack, m),
		func(info *pulumi.RunInfo) {
			info.Config = config
			info.ConfigSecretKeys = secretKeys
			info.DryRun = o.DryRun
		})
	m.mu.Lock()
	defer m.mu.Unlock()
	return &Result{Err: err, Resources: append([]Resource(nil), m.resources...)}
}

func qualify(project, key string) string {
	if strings.Contains(key, ":") {
		return key
	}
	return project + ":" + key
}

// ByType returns the resources of a type token, in registration order.
func (r *Result) ByType(token string) []Resource {
	var out []Resource
	for _, res := range r.Resources {
		if res.Type == token {
			out = append(out, res)
		}
	}
	return out
}

// Get returns the resource of a type and name, failing the test when absent.
func (r *Result) Get(t testing.TB, token, name string) Resource {
	t.Helper()
	for _, res := range r.Resources {
		if res.Type == token && res.Name == name {
			return res
		}
	}
	t.Fatalf("no %s named %q; registered: %s", token, name, strings.Join(r.Names(), ", "))
	return Resource{}
}

// Names lists "type/name" of every resource, for failure messages.
func (r *Result) Names() []string {
	var out []string
	for _, res := range r.Resources {
		out = append(out, res.Type+"/"+res.Name)
	}
	return out
}

// Input returns an input value by dotted path ("connection.host"), with
// secrets unwrapped; ok is false when absent or unknown.
func (res Resource) Input(path string) (resource.PropertyValue, bool) {
	return lookup(res.Inputs, path)
}

// SecretTriggers names the remote commands whose triggers hold a secret. The real
// command plugin's Check fails the preview (`malformed secret: missing value`)
// whenever such a secret is not known yet (a new RandomPassword), so no step may
// put one there: key the trigger on what the secret is derived from instead.
func (r *Result) SecretTriggers() []string {
	var names []string
	for _, res := range r.Resources {
		if !strings.HasPrefix(res.Type, "command:remote:") {
			continue
		}
		if v, ok := res.Inputs["triggers"]; ok && v.ContainsSecrets() {
			names = append(names, res.Name)
		}
	}
	return names
}

// InputString returns a string input by dotted path, or "".
func (res Resource) InputString(path string) string {
	v, ok := res.Input(path)
	if !ok || !v.IsString() {
		return ""
	}
	return v.StringValue()
}

// IsSecret reports whether the input at path is secret, itself or because a
// value that contains it is (the command SDK marks the whole connection).
func (res Resource) IsSecret(path string) bool {
	v, ok := lookupRaw(res.Inputs, path)
	return ok && v.ContainsSecrets()
}

// Parent returns the URN of the resource's parent.
func (res Resource) Parent() string { return res.Request.GetParent() }

func lookup(m resource.PropertyMap, path string) (resource.PropertyValue, bool) {
	v, ok := lookupRaw(m, path)
	for ok && v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v, ok && !v.IsComputed()
}

// lookupRaw walks a dotted path; a value found inside a secret is returned
// wrapped as a secret, so callers see the secrecy the engine would apply.
func lookupRaw(m resource.PropertyMap, path string) (resource.PropertyValue, bool) {
	cur := resource.NewObjectProperty(m)
	secret := false
	for _, part := range strings.Split(path, ".") {
		for cur.IsSecret() {
			secret = true
			cur = cur.SecretValue().Element
		}
		if !cur.IsObject() {
			return resource.PropertyValue{}, false
		}
		next, ok := cur.ObjectValue()[resource.PropertyKey(part)]
		if !ok {
			return resource.PropertyValue{}, false
		}
		cur = next
	}
	if secret && !cur.IsSecret() {
		cur = resource.MakeSecret(cur)
	}
	return cur, true
}

const randomPasswordType = "random:index/randomPassword:RandomPassword"

type mocks struct {
	outputs   func(pulumi.MockResourceArgs) resource.PropertyMap
	mu        sync.Mutex
	resources []Resource
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	outs := args.Inputs.Copy()
	if args.TypeToken == "pulumi:pulumi:StackReference" {
		// As the engine reads a stack without outputs; Options.Outputs may add some.
		outs["outputs"] = resource.NewObjectProperty(resource.PropertyMap{})
	}
	if args.TypeToken == randomPasswordType {
		// the real plugin's result is secret; a known one lets SecretTriggers see it
		outs["result"] = resource.MakeSecret(resource.NewProperty("mock-password-" + args.Name))
	}
	if m.outputs != nil {
		for k, v := range m.outputs(args) {
			outs[k] = v
		}
	}
	id := args.Name + "-id"
	if !args.Custom {
		id = ""
	}
	m.mu.Lock()
	m.resources = append(m.resources, Resource{
		Type: args.TypeToken, Name: args.Name, ID: id,
		Inputs: args.Inputs, Outputs: outs, Request: args.RegisterRPC,
	})
	m.mu.Unlock()
	return id, outs, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("pulumitest: unexpected call to %s", args.Token)
}

// JSON encodes a structured config value as the engine passes it.
func JSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding config: %v", err)
	}
	return string(b)
}
