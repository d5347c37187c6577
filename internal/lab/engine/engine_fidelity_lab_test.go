//go:build lab

package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/homeslice/homelab/internal/lab/engine"
	"github.com/homeslice/homelab/internal/lab/sshdtest"
)

func connectionTo(srv *sshdtest.Server) remote.ConnectionArgs {
	return remote.ConnectionArgs{
		Host:       pulumi.String(srv.Host),
		Port:       pulumi.Float64(float64(srv.Port)),
		User:       pulumi.String(srv.User),
		PrivateKey: pulumi.String(srv.ClientKey),
		HostKey:    pulumi.String(srv.HostKeyEd25519),
	}
}

// A person's `pulumi up` previews first: a program whose preview fails must fail
// Up before anything runs, even though its update alone would pass.
func TestUpFailsWhenThePreviewFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv := sshdtest.Start(t)
	failPreview := true
	program := func(ctx *pulumi.Context) error {
		if ctx.DryRun() && failPreview {
			return errors.New("this program fails in preview only")
		}
		_, err := remote.NewCommand(ctx, "step", &remote.CommandArgs{
			Connection: connectionTo(srv),
			Create:     pulumi.Sprintf("echo ran > %s/step", srv.Dir),
		})
		return err
	}
	st := engine.New(t, program, engine.Options{})

	up := st.Up(ctx)
	if up.Err == nil || !up.Preview {
		t.Fatalf("up of a program whose preview fails: err %v, preview %v; want a failed preview\n%s", up.Err, up.Preview, up.Output)
	}
	if !engine.ErrContains(up.Err, "this program fails in preview only") {
		t.Errorf("the failed up does not say why: %s", engine.ErrText(up.Err))
	}
	if got := srv.ReadFile("step"); got != "" {
		t.Errorf("the update ran after a failed preview: %q", got)
	}

	// what the Automation API alone does: the update runs without the preview
	mustOK(t, "up --skip-preview", st.UpSkipPreview(ctx))
	if got := srv.ReadFile("step"); got != "ran\n" {
		t.Errorf("up --skip-preview did not run the step: %q", got)
	}

	failPreview = false
	mustOK(t, "preview --expect-no-changes", st.PreviewExpectNoChanges(ctx))
}

// The real command plugin's Check fails when triggers hold a secret that is not
// known yet (a new RandomPassword); an unknown secret on stdin, or a plain
// unknown in triggers, is fine. The double must refuse the same program.
func TestSecretInTriggersFailsThePreview(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv := sshdtest.Start(t)
	secretTrigger := true
	program := func(ctx *pulumi.Context) error {
		token, err := random.NewRandomPassword(ctx, "token", &random.RandomPasswordArgs{
			Length: pulumi.Int(32), Special: pulumi.Bool(false),
		})
		if err != nil {
			return err
		}
		first, err := remote.NewCommand(ctx, "first", &remote.CommandArgs{
			Connection: connectionTo(srv),
			Create:     pulumi.String("echo first"),
		})
		if err != nil {
			return err
		}
		// a plain unknown (first's stdout) in triggers, the secret on stdin
		triggers := pulumi.Array{first.Stdout}
		if secretTrigger {
			triggers = append(triggers, token.Result)
		}
		_, err = remote.NewCommand(ctx, "use-token", &remote.CommandArgs{
			Connection: connectionTo(srv),
			Create:     pulumi.Sprintf("cat > %s/token; echo stored", srv.Dir),
			Stdin:      token.Result,
			Logging:    remote.LoggingNone,
			Triggers:   triggers,
		})
		return err
	}
	st := engine.New(t, program, engine.Options{})

	pre := st.Preview(ctx)
	if !engine.ErrContains(pre.Err, "malformed secret: missing value") {
		t.Fatalf("preview with an unknown secret in triggers: err %v, want the real plugin's malformed secret\n%s", pre.Err, pre.Output)
	}
	up := st.Up(ctx)
	if !up.Preview || !engine.ErrContains(up.Err, "malformed secret: missing value") {
		t.Errorf("up with an unknown secret in triggers: err %v, want its preview to fail", up.Err)
	}

	secretTrigger = false
	mustOK(t, "up without the secret in triggers", st.Up(ctx))
	if got := srv.ReadFile("token"); len(got) != 32 {
		t.Errorf("the token did not arrive on stdin: %q", got)
	}
	mustOK(t, "preview --expect-no-changes", st.PreviewExpectNoChanges(ctx))
	st.AssertNoLeak(ctx, srv.ReadFile("token"))
}

// In a preview the real plugin marks a command's stdout unknown whenever any of
// its inputs changed, so what uses that stdout is planned as an update too: a
// preview must not promise less than the update does.
func TestPreviewOfAnUpdatePlansWhatUsesItsOutput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv := sshdtest.Start(t)
	value := "v1"
	program := func(ctx *pulumi.Context) error {
		source, err := remote.NewCommand(ctx, "source", &remote.CommandArgs{
			Connection: connectionTo(srv),
			Create:     pulumi.String("echo " + value),
		})
		if err != nil {
			return err
		}
		_, err = remote.NewCommand(ctx, "consumer", &remote.CommandArgs{
			Connection: connectionTo(srv),
			Create:     pulumi.Sprintf("echo %s > %s/consumed", source.Stdout, srv.Dir),
		})
		return err
	}
	st := engine.New(t, program, engine.Options{})
	mustOK(t, "first up", st.Up(ctx))

	value = "v2"
	pre := st.Preview(ctx)
	mustOK(t, "preview after a create change", pre)
	for _, name := range []string{"source", "consumer"} {
		if ops := pre.Ops(name); !slices.Equal(ops, []apitype.OpType{apitype.OpUpdate}) {
			t.Errorf("preview: %s ops %v, want update", name, ops)
		}
	}
	up := st.Up(ctx)
	mustOK(t, "up after a create change", up)
	if got := up.Changed(); !slices.Equal(got, pre.Changed()) {
		t.Errorf("the update changed %v, its preview planned %v", got, pre.Changed())
	}
	if got := srv.ReadFile("consumed"); got != "v2\n" {
		t.Errorf("consumer ran with %q, want v2", got)
	}
	mustOK(t, "preview --expect-no-changes", st.PreviewExpectNoChanges(ctx))
}

// A command's stdout is stored in state in plain text whatever `logging` says,
// even when its stdin is secret: a step whose stdout can carry a secret must
// declare it with AdditionalSecretOutputs.
func TestStdoutIsPlainUnlessDeclaredSecret(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv := sshdtest.Start(t)
	const secret = "kubeconfig-token-0123456789abcdef"
	declared := false
	program := func(ctx *pulumi.Context) error {
		var opts []pulumi.ResourceOption
		if declared {
			opts = append(opts, pulumi.AdditionalSecretOutputs([]string{"stdout", "stderr"}))
		}
		_, err := remote.NewCommand(ctx, "echo-secret", &remote.CommandArgs{
			Connection: connectionTo(srv),
			Create:     pulumi.String("cat"),
			Stdin:      pulumi.ToSecret(pulumi.String(secret)).(pulumi.StringOutput),
			Logging:    remote.LoggingNone,
			Triggers:   pulumi.Array{pulumi.Bool(declared)},
		}, opts...)
		return err
	}
	st := engine.New(t, program, engine.Options{})
	mustOK(t, "up", st.Up(ctx))
	leaks, err := st.Leaks(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaks) == 0 {
		t.Fatal("an undeclared stdout holding a secret stayed secret: the double hides what the real plugin stores in plain text")
	}

	// declared: a replacement whose stdout is stored encrypted. Earlier
	// checkpoints in the backend's history still hold the plain one, so the
	// check reads the current state only.
	declared = true
	mustOK(t, "up with AdditionalSecretOutputs", st.Up(ctx))
	export, err := st.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(export), secret) {
		t.Error("stdout declared secret is in the stack export in plain text")
	}
	mustOK(t, "preview --expect-no-changes", st.PreviewExpectNoChanges(ctx))
}
