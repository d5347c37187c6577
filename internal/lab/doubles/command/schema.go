package command

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// The real provider's Check is pulumi-go-provider's DefaultCheck: it decodes the
// inputs into the resource's Go struct (a type error is a CheckFailure) and fills the
// defaults its annotations set. The schema the double serves says the same things
// (types, required properties, defaults), so Check reads them from there rather than
// repeating them per field.

// propertySpec is one property in the schema.
type propertySpec struct {
	Type                 string        `json:"type"`
	Ref                  string        `json:"$ref"`
	Items                *propertySpec `json:"items"`
	AdditionalProperties *propertySpec `json:"additionalProperties"`
	Default              any           `json:"default"`
}

// typeSpec is an object or enum type in the schema.
type typeSpec struct {
	Type       string                   `json:"type"`
	Properties map[string]*propertySpec `json:"properties"`
	Required   []string                 `json:"required"`
	Enum       []struct {
		Value any `json:"value"`
	} `json:"enum"`
}

type resourceSpec struct {
	InputProperties map[string]*propertySpec `json:"inputProperties"`
	RequiredInputs  []string                 `json:"requiredInputs"`
}

type packageSpec struct {
	Resources map[string]resourceSpec `json:"resources"`
	Types     map[string]typeSpec     `json:"types"`
}

var spec = mustParseSchema(schema)

func mustParseSchema(s string) *packageSpec {
	var p packageSpec
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		panic(fmt.Sprintf("embedded schema.json: %v", err))
	}
	return &p
}

// inputsOf returns the resource's input property names, sorted.
func (p *packageSpec) inputsOf(tok string) []string {
	return sortedKeys(p.Resources[tok].InputProperties)
}

// checker type-checks inputs against the schema and fills their defaults,
// collecting failures as it goes.
type checker struct {
	spec     *packageSpec
	failures []*pulumirpc.CheckFailure
}

func (c *checker) fail(path, reason string) {
	c.failures = append(c.failures, &pulumirpc.CheckFailure{Property: path, Reason: reason})
}

// resource checks a resource's inputs and returns them with defaults filled.
func (c *checker) resource(tok string, news resource.PropertyMap) resource.PropertyMap {
	r := c.spec.Resources[tok]
	return c.object("", typeSpec{Properties: r.InputProperties, Required: r.RequiredInputs}, news)
}

// object checks the properties of m the schema knows (others pass, as the
// double has always let them) and adds the defaults of absent ones.
func (c *checker) object(path string, t typeSpec, m resource.PropertyMap) resource.PropertyMap {
	out := m.Copy()
	for _, k := range sortedKeys(t.Properties) {
		p := t.Properties[k]
		key := resource.PropertyKey(k)
		if v, ok := m[key]; ok {
			out[key] = c.value(join(path, k), p, v)
			continue
		}
		if slices.Contains(t.Required, k) {
			c.fail(join(path, k), fmt.Sprintf("Missing required property '%s'", k))
			continue
		}
		if p.Default != nil {
			out[key] = resource.NewPropertyValue(p.Default)
		}
	}
	return out
}

// value checks one value. Unknowns pass (they are typed once known, as infer
// types them as the zero value); secrets are checked inside and stay secret.
func (c *checker) value(path string, p *propertySpec, v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return resource.MakeSecret(c.value(path, p, v.SecretValue().Element))
	case isUnknown(v), v.IsNull():
		return v
	}
	if p.Ref != "" {
		return c.ref(path, p.Ref, v)
	}
	switch p.Type {
	case "string":
		c.want(path, "a string", v, v.IsString())
	case "number":
		c.want(path, "a number", v, v.IsNumber())
	case "integer":
		// infer decodes into a Go int: a fraction is dropped, not refused
		if c.want(path, "an integer", v, v.IsNumber()) {
			return resource.NewNumberProperty(math.Trunc(v.NumberValue()))
		}
	case "boolean":
		c.want(path, "a boolean", v, v.IsBool())
	case "array":
		if c.want(path, "an array", v, v.IsArray()) {
			return c.array(path, p.Items, v.ArrayValue())
		}
	case "object":
		if c.want(path, "an object", v, v.IsObject()) {
			return c.mapOf(path, p.AdditionalProperties, v.ObjectValue())
		}
	}
	return v
}

func (c *checker) array(path string, item *propertySpec, vs []resource.PropertyValue) resource.PropertyValue {
	out := make([]resource.PropertyValue, len(vs))
	for i, e := range vs {
		out[i] = e
		if item != nil {
			out[i] = c.value(fmt.Sprintf("%s[%d]", path, i), item, e)
		}
	}
	return resource.NewArrayProperty(out)
}

func (c *checker) mapOf(path string, elem *propertySpec, m resource.PropertyMap) resource.PropertyValue {
	out := m.Copy()
	if elem != nil {
		for k, e := range m {
			out[k] = c.value(join(path, string(k)), elem, e)
		}
	}
	return resource.NewObjectProperty(out)
}

// ref checks a value of a named type: an object or enum of this package, or
// one of Pulumi's own (Any; assets and archives, which checkSource checks).
func (c *checker) ref(path, ref string, v resource.PropertyValue) resource.PropertyValue {
	name, ok := strings.CutPrefix(ref, "#/types/")
	if !ok {
		return v
	}
	t := c.spec.Types[name]
	if len(t.Enum) > 0 {
		c.enum(path, t, v)
		return v
	}
	if !c.want(path, "an object", v, v.IsObject()) {
		return v
	}
	return resource.NewObjectProperty(c.object(path, t, v.ObjectValue()))
}

func (c *checker) enum(path string, t typeSpec, v resource.PropertyValue) {
	var values []string
	for _, e := range t.Enum {
		if v.IsString() && e.Value == v.StringValue() {
			return
		}
		values = append(values, fmt.Sprint(e.Value))
	}
	c.fail(path, fmt.Sprintf("%s must be one of %s", path, strings.Join(values, ", ")))
}

// want records a failure unless ok; it returns ok.
func (c *checker) want(path, what string, v resource.PropertyValue, ok bool) bool {
	if !ok {
		c.fail(path, fmt.Sprintf("%s must be %s, not %s", path, what, describe(v)))
	}
	return ok
}

// describe names v's type, never its value: it may sit inside a secret.
func describe(v resource.PropertyValue) string {
	switch {
	case v.IsArray():
		return "an array"
	case v.IsObject():
		return "an object"
	case v.IsAsset(), v.IsArchive():
		return "an " + v.TypeString()
	case v.IsResourceReference():
		return "a resource reference"
	}
	return "a " + v.TypeString()
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
