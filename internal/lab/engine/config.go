package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
)

// WriteConfig writes plain config values into the stack file, as a person
// edits Pulumi.<stack>.yaml: keys are namespaced ("homelab:nodes"); strings
// stay strings, anything else is stored as structured config. Secrets go
// through SetConfig with secret=true instead.
func (s *Stack) WriteConfig(ctx context.Context, values map[string]any) error {
	ws := s.stack.Workspace()
	ps, err := ws.StackSettings(ctx, s.name)
	if err != nil {
		return fmt.Errorf("reading stack settings: %w", err)
	}
	if ps.Config == nil {
		ps.Config = config.Map{}
	}
	for k, v := range values {
		key, err := config.ParseKey(k)
		if err != nil {
			return fmt.Errorf("config key %q: %w", k, err)
		}
		if str, ok := v.(string); ok {
			ps.Config[key] = config.NewValue(str)
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("config %s: %w", k, err)
		}
		ps.Config[key] = config.NewObjectValue(string(b))
	}
	if err := ws.SaveStackSettings(ctx, s.name, ps); err != nil {
		return fmt.Errorf("writing stack settings: %w", err)
	}
	return nil
}
