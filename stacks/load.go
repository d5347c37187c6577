package stacks

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Source is where configuration values come from: the Pulumi context in a
// program, a map in tests.
type Source interface {
	// Get returns the raw value of a key of this project's namespace (no
	// "homelab:" prefix); structured values are JSON.
	Get(key string) (string, bool)
	// IsSecret reports whether the key was set with --secret.
	IsSecret(key string) bool
}

type contextSource struct{ ctx *pulumi.Context }

func (s contextSource) Get(key string) (string, bool) { return s.ctx.GetConfig(Namespace + ":" + key) }
func (s contextSource) IsSecret(key string) bool      { return s.ctx.IsConfigSecret(Namespace + ":" + key) }

// Load reads, defaults and validates the stack configuration of a program.
func Load(ctx *pulumi.Context) (*Config, error) {
	return LoadFrom(contextSource{ctx})
}

// LoadFrom reads, defaults and validates configuration from src. Every
// problem is returned at once as Problems.
func LoadFrom(src Source) (*Config, error) {
	var c Config
	var probs Problems

	// Structured keys: one per JSON field of Config.
	t := reflect.TypeOf(c)
	for i := range t.NumField() {
		key := jsonName(t.Field(i))
		if key == "" {
			continue
		}
		raw, ok := src.Get(key)
		if !ok || isEmpty(raw) {
			continue // unset; an empty block is how Pulumi.yaml's default says "off"
		}
		if src.IsSecret(key) {
			// Decode it anyway, so the rest of the key is still checked.
			probs = append(probs, Problem{Path: key, Msg: "holds a secure value: the program cannot tell which nested value was secret, so secrets live under their own top-level keys (" + secretKeyNames() + "); set this key without --secret"})
		}
		probs = append(probs, decodeValue(key, raw, reflect.ValueOf(&c).Elem().Field(i).Addr().Interface())...)
	}

	// Secret keys: each must have been set with --secret. Their values never
	// appear in a problem.
	for _, sk := range SecretKeys {
		raw, ok := src.Get(sk.Key)
		if !ok || isEmpty(raw) {
			continue
		}
		if !src.IsSecret(sk.Key) {
			probs = append(probs, Problem{Path: sk.Key, Msg: fmt.Sprintf("is stored in plain text: remove it from the stack file and set it with pulumi config set --secret %s …", sk.Key)})
		}
		switch sk.Key {
		case "sshPrivateKey":
			c.Secrets.SSHPrivateKey = raw
		case "resticPassword":
			c.Secrets.ResticPassword = raw
		case "appSecrets":
			m, p := decodeAppSecrets(raw)
			c.Secrets.AppSecrets = m
			probs = append(probs, p...)
		}
	}

	c.applyDefaults()
	probs = append(probs, Validate(&c)...)
	if len(probs) > 0 {
		return nil, probs
	}
	return &c, nil
}

// decodeAppSecrets parses appSecrets (app -> name -> value) with messages
// that never include a value.
func decodeAppSecrets(raw string) (map[string]map[string]string, Problems) {
	var top map[string]any
	if err := json.Unmarshal([]byte(raw), &top); err != nil {
		return nil, Problems{{Path: "appSecrets", Msg: "expected an object of app name to an object of secret name to value"}}
	}
	out := map[string]map[string]string{}
	var probs Problems
	for _, app := range sortedMapKeys(top) {
		inner, ok := top[app].(map[string]any)
		if !ok {
			probs = append(probs, Problem{Path: "appSecrets." + app, Msg: "expected an object of secret name to value"})
			continue
		}
		out[app] = map[string]string{}
		for _, name := range sortedMapKeys(inner) {
			s, ok := inner[name].(string)
			if !ok {
				probs = append(probs, Problem{Path: "appSecrets." + app + "." + name, Msg: "expected a string value"})
				continue
			}
			out[app][name] = s
		}
	}
	return out, probs
}

// isEmpty reports an unset value: Pulumi.yaml defaults optional keys to an
// empty string, object or list, because a declared key without a default is
// required by the CLI.
func isEmpty(raw string) bool {
	switch strings.TrimSpace(raw) {
	case "", "{}", "[]", "null":
		return true
	}
	return false
}

func secretKeyNames() string {
	var names []string
	for _, sk := range SecretKeys {
		names = append(names, sk.Key)
	}
	return strings.Join(names, ", ")
}

func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
