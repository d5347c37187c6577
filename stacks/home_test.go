package stacks

import (
	"testing"

	"github.com/homeslice/homelab/internal/pulumitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// options turns a home stack into mock-run options, secrets as secrets.
func (h *homeStack) options(t testing.TB) pulumitest.Options {
	src := h.source(t)
	o := pulumitest.Options{Config: map[string]string{}, Secrets: map[string]string{}, DryRun: true}
	for k, v := range src.values {
		if src.secret[k] {
			o.Secrets[k] = v
		} else {
			o.Config[k] = v
		}
	}
	return o
}

func TestHomeWithExampleStack(t *testing.T) {
	res := pulumitest.Run(t, Home, loadHome(t).options(t))
	require.NoError(t, res.Err)
}

func TestHomeBadStackDeclaresNothing(t *testing.T) {
	h := loadHome(t)
	at(h.values, "nodes", 1)["address"] = "10.0.0.300"
	at(h.values, "networkController")["node"] = "node9"
	at(h.values, "apps", 1, "env")["BUTTONS_ADDRESS"] = "{{device:attic}}"
	at(h.values, "backups", "sources", 0)["schedule"] = "61 * * * *"
	at(h.values, "apps", 2, "pvc")["size"] = "lots"
	delete(h.secrets, "resticPassword")

	res := pulumitest.Run(t, Home, h.options(t))
	require.Error(t, res.Err)
	for _, path := range []string{
		"nodes[1].address: ",
		"networkController.node: ",
		"apps[1].env.BUTTONS_ADDRESS: ",
		"backups.sources[0].schedule: ",
		"apps[2].pvc.size: ",
		"resticPassword: ",
	} {
		assert.Contains(t, res.Err.Error(), path)
	}
	assert.Contains(t, res.Err.Error(), "(6 problems)")
	assert.Empty(t, res.Resources, "a bad stack declares nothing")
}
