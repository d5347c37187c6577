package stacks

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// modelKey is one documented config path derived from the Go model.
type modelKey struct {
	Path, Type, Default, Doc string
}

// modelKeys walks Config and lists every leaf path with its type and default
// (from the `default` tag), plus the secret keys.
func modelKeys() []modelKey {
	var out []modelKey
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := jsonName(f)
			if name == "" {
				continue
			}
			p := join(prefix, name)
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft.Kind() == reflect.Struct:
				walk(p, ft)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(p+"[]", ft.Elem())
			case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
				walk(p+".<name>", ft.Elem())
			default:
				def := f.Tag.Get("default")
				if def == "" {
					def = "—"
				}
				out = append(out, modelKey{Path: p, Type: typeName(ft), Default: def, Doc: f.Tag.Get("doc")})
			}
		}
	}
	walk("", reflect.TypeOf(Config{}))
	for _, sk := range SecretKeys {
		typ := "secret string"
		if sk.Structured {
			typ = "secret map of map of string"
		}
		out = append(out, modelKey{Path: sk.Key, Type: typ, Default: "—", Doc: sk.Description})
	}
	return out
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int:
		return "integer"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Elem())
	}
	panic("unsupported type " + t.String())
}

var docRow = regexp.MustCompile("^\\| `([^`]+)` \\| ([^|]+) \\| ([^|]+) \\|")

// TestConfigurationDocMatchesModel keeps docs/configuration.md true: every
// path of the Go model is documented with its type and default, and nothing
// else is.
func TestConfigurationDocMatchesModel(t *testing.T) {
	b, err := os.ReadFile("../docs/configuration.md")
	require.NoError(t, err)
	documented := map[string]modelKey{}
	for _, line := range strings.Split(string(b), "\n") {
		m := docRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		k := modelKey{Path: m[1], Type: strings.TrimSpace(m[2]), Default: strings.Trim(strings.TrimSpace(m[3]), "`")}
		_, dup := documented[k.Path]
		assert.False(t, dup, "%s is documented twice", k.Path)
		documented[k.Path] = k
	}
	for _, want := range modelKeys() {
		got, ok := documented[want.Path]
		if !assert.True(t, ok, "docs/configuration.md does not document %s; add:\n| `%s` | %s | %s | %s |", want.Path, want.Path, want.Type, want.Default, want.Doc) {
			continue
		}
		assert.Equal(t, want.Type, got.Type, "type of %s", want.Path)
		assert.Equal(t, want.Default, got.Default, "default of %s", want.Path)
		delete(documented, want.Path)
	}
	for p := range documented {
		t.Errorf("docs/configuration.md documents %s, which the model does not have", p)
	}
}

// TestPulumiYamlDeclaresTopLevelKeys keeps Pulumi.yaml's config schema in
// step with the model: the same keys, each with a description, secrets
// declared as such.
func TestPulumiYamlDeclaresTopLevelKeys(t *testing.T) {
	b, err := os.ReadFile("../Pulumi.yaml")
	require.NoError(t, err)
	var project struct {
		Name    string `yaml:"name"`
		Runtime string `yaml:"runtime"`
		Config  map[string]struct {
			Type        string `yaml:"type"`
			Description string `yaml:"description"`
			Secret      bool   `yaml:"secret"`
			Default     any    `yaml:"default"`
			Items       *struct {
				Type string `yaml:"type"`
			} `yaml:"items"`
		} `yaml:"config"`
	}
	require.NoError(t, yaml.Unmarshal(b, &project))
	assert.Equal(t, Namespace, project.Name)
	assert.Equal(t, "go", project.Runtime)

	want := map[string]string{} // key -> expected Pulumi type
	ct := reflect.TypeOf(Config{})
	for i := range ct.NumField() {
		f := ct.Field(i)
		if name := jsonName(f); name != "" {
			typ := "object"
			if f.Type.Kind() == reflect.Slice {
				typ = "array"
			}
			want[name] = typ
		}
	}
	for _, sk := range SecretKeys {
		want[sk.Key] = "string"
		if sk.Structured {
			want[sk.Key] = "object"
		}
	}
	var got []string
	for k, decl := range project.Config {
		got = append(got, k)
		assert.NotEmpty(t, decl.Description, "%s has no description", k)
		assert.Equal(t, want[k], decl.Type, "type of %s", k)
		if decl.Type == "array" {
			require.NotNil(t, decl.Items, "%s: arrays declare items", k)
			assert.Equal(t, "object", decl.Items.Type)
		}
	}
	var wantKeys []string
	for k := range want {
		wantKeys = append(wantKeys, k)
	}
	sort.Strings(got)
	sort.Strings(wantKeys)
	assert.Equal(t, wantKeys, got)

	// Only nodes and sshPrivateKey are required; the CLI fails a stack that
	// lacks a declared key without default, so every other key has one.
	for k, decl := range project.Config {
		required := k == "nodes" || k == "sshPrivateKey"
		assert.Equal(t, required, decl.Default == nil, fmt.Sprintf("%s: required=%v", k, required))
	}
	assert.True(t, project.Config["sshPrivateKey"].Secret)
}
