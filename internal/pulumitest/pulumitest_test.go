package pulumitest

import (
	"errors"
	"testing"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// program declares one resource of each provider the project uses, reading
// config and a secret, so the helpers are exercised as components will use them.
func program(ctx *pulumi.Context) error {
	cfg := config.New(ctx, "homelab")
	host := cfg.Require("host")
	token, err := random.NewRandomPassword(ctx, "token", &random.RandomPasswordArgs{
		Length: pulumi.Int(32), Special: pulumi.Bool(false),
		Keepers: pulumi.StringMap{"machineId": pulumi.String("abc")},
	})
	if err != nil {
		return err
	}
	cmd, err := remote.NewCommand(ctx, "node1-hello", &remote.CommandArgs{
		Connection: remote.ConnectionArgs{Host: pulumi.String(host), PrivateKey: cfg.RequireSecret("sshPrivateKey")},
		Create:     pulumi.String("cat >/dev/null"),
		Stdin:      token.Result,
		Triggers:   pulumi.Array{pulumi.String("abc")},
	}, pulumi.RetainOnDelete(true))
	if err != nil {
		return err
	}
	_, err = corev1.NewConfigMap(ctx, "settings", &corev1.ConfigMapArgs{
		Metadata: metav1.ObjectMetaArgs{Namespace: pulumi.String("default")},
		Data:     pulumi.StringMap{"out": cmd.Stdout},
	}, pulumi.DependsOn([]pulumi.Resource{cmd}))
	return err
}

func TestRunRecordsResourcesInputsAndOptions(t *testing.T) {
	res := Run(t, program, Options{
		Config:  map[string]string{"host": "10.0.0.1"},
		Secrets: map[string]string{"sshPrivateKey": "KEY"},
		Outputs: func(a pulumi.MockResourceArgs) resource.PropertyMap {
			if a.TypeToken == "command:remote:Command" {
				return resource.PropertyMap{"stdout": resource.NewProperty("changed")}
			}
			return nil
		},
	})
	require.NoError(t, res.Err)
	require.Len(t, res.Resources, 3, res.Names())

	cmd := res.Get(t, "command:remote:Command", "node1-hello")
	assert.Equal(t, "10.0.0.1", cmd.InputString("connection.host"))
	assert.Equal(t, "KEY", cmd.InputString("connection.privateKey"))
	assert.True(t, cmd.IsSecret("connection.privateKey"), "a secret config value stays secret")
	assert.False(t, cmd.IsSecret("create"))
	assert.True(t, cmd.Request.GetRetainOnDelete())
	assert.Equal(t, "changed", cmd.Outputs["stdout"].StringValue())

	pw := res.Get(t, "random:index/randomPassword:RandomPassword", "token")
	assert.Equal(t, "abc", pw.InputString("keepers.machineId"))

	cm := res.ByType("kubernetes:core/v1:ConfigMap")
	require.Len(t, cm, 1)
	assert.Contains(t, cm[0].Request.GetDependencies(), "urn:pulumi:test::homelab::command:remote:Command::node1-hello")
}

func TestRunReturnsProgramError(t *testing.T) {
	res := Run(t, func(ctx *pulumi.Context) error { return errors.New("boom") }, Options{})
	assert.ErrorContains(t, res.Err, "boom")
	assert.Empty(t, res.Resources)
}

func TestReadStackFile(t *testing.T) {
	sf, err := ReadStackFile("testdata/Pulumi.sample.yaml", "homelab")
	require.NoError(t, err)
	assert.Equal(t, []string{"sshPrivateKey"}, sf.Secure)
	assert.JSONEq(t, `[{"name":"node1","port":22}]`, sf.Config["nodes"])
	assert.Equal(t, "plain", sf.Config["word"])
	assert.NotContains(t, sf.Config, "other", "keys of other namespaces are left out")
}

func TestSecretTriggers(t *testing.T) {
	program := func(ctx *pulumi.Context) error {
		token, err := random.NewRandomPassword(ctx, "token", &random.RandomPasswordArgs{Length: pulumi.Int(32)})
		if err != nil {
			return err
		}
		for name, triggers := range map[string]pulumi.Array{
			"keyed-on-the-token": {pulumi.String("m1"), token.Result},
			"keyed-on-its-seed":  {pulumi.String("m1")},
		} {
			if _, err := remote.NewCommand(ctx, name, &remote.CommandArgs{
				Connection: remote.ConnectionArgs{Host: pulumi.String("10.0.0.1")},
				Stdin:      token.Result,
				Triggers:   triggers,
			}); err != nil {
				return err
			}
		}
		return nil
	}
	res := Run(t, program, Options{})
	require.NoError(t, res.Err)
	pw := res.Get(t, "random:index/randomPassword:RandomPassword", "token")
	assert.True(t, pw.Outputs["result"].IsSecret(), "a password's result is a known secret, as the real plugin's")
	assert.Equal(t, []string{"keyed-on-the-token"}, res.SecretTriggers())
}
