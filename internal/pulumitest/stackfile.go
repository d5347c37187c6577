package pulumitest

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// StackFile is the project-namespace config of a Pulumi.<stack>.yaml file, as
// the engine would hand it to the program.
type StackFile struct {
	// Config maps keys (without the namespace) to raw values: strings as
	// they are, structured values as JSON.
	Config map[string]string
	// Secure lists keys whose value is `secure:` ciphertext; their values are
	// not in Config (tests supply them through Options.Secrets).
	Secure []string
}

// ReadStackFile reads the keys of namespace from a stack file.
func ReadStackFile(path, namespace string) (*StackFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading stack file: %w", err)
	}
	var doc struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	sf := &StackFile{Config: map[string]string{}}
	for k, v := range doc.Config {
		key, ok := strings.CutPrefix(k, namespace+":")
		if !ok {
			continue
		}
		if m, ok := v.(map[string]any); ok && len(m) == 1 && m["secure"] != nil {
			sf.Secure = append(sf.Secure, key)
			continue
		}
		if s, ok := v.(string); ok {
			sf.Config[key] = s
			continue
		}
		j, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		sf.Config[key] = string(j)
	}
	return sf, nil
}
