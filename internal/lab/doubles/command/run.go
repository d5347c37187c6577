package command

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	pb "github.com/homeslice/homelab/internal/lab/doubles/internal/provbase"
)

// commandInputs is the decoded part of command:remote:Command inputs the run needs.
type commandInputs struct {
	Conn                   *connection
	Create, Update, Delete *string
	Stdin                  *string
	Logging                string
	Environment            map[string]string
	AddPreviousOutputInEnv bool
}

func parseCommandInputs(m resource.PropertyMap) (*commandInputs, error) {
	conn, err := parseConnection(pb.Object(m, "connection"))
	if err != nil {
		return nil, err
	}
	in := &commandInputs{
		Conn:                   conn,
		Create:                 pb.String(m, "create"),
		Update:                 pb.String(m, "update"),
		Delete:                 pb.String(m, "delete"),
		Stdin:                  pb.String(m, "stdin"),
		Logging:                "stdoutAndStderr",
		AddPreviousOutputInEnv: true,
	}
	if l := pb.String(m, "logging"); l != nil {
		in.Logging = *l
	}
	if b := pb.Bool(m, "addPreviousOutputInEnv"); b != nil {
		in.AddPreviousOutputInEnv = *b
	}
	if env := pb.Object(m, "environment"); env != nil {
		in.Environment = map[string]string{}
		for k := range env {
			if s := pb.String(env, string(k)); s != nil {
				in.Environment[string(k)] = *s
			}
		}
	}
	return in, nil
}

func (in *commandInputs) logStdout() bool {
	return in.Logging == "stdout" || in.Logging == "stdoutAndStderr"
}

func (in *commandInputs) logStderr() bool {
	return in.Logging == "stderr" || in.Logging == "stdoutAndStderr"
}

const setenvHint = `Unable to set '%s'. This only works if your SSH server is configured to accept
	these variables via AcceptEnv. Alternatively, if a Bash-like shell runs the command on the remote host, you could
	prefix the command itself with the variables in the form 'VAR=value command'`

// run executes cmd over SSH as the real provider does: one session, environment
// via setenv, stdin piped, output lines streamed as status messages per `logging`.
// prevStdout/prevStderr are the outputs of the previous create/update.
func (in *commandInputs) run(ctx context.Context, logger pb.Logger, urn resource.URN, cmd, prevStdout, prevStderr string) (string, string, error) {
	client, err := in.Conn.dial(ctx, logger, urn)
	if err != nil {
		return "", "", err
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return "", "", err
	}
	defer session.Close()

	for k, v := range in.Environment {
		if err := session.Setenv(k, v); err != nil {
			logger.Log(ctx, diag.Error, urn, fmt.Sprintf(setenvHint, k), false)
			return "", "", fmt.Errorf("could not set environment variable %q: %w", k, err)
		}
	}
	if in.AddPreviousOutputInEnv {
		for k, v := range map[string]string{"PULUMI_COMMAND_STDOUT": prevStdout, "PULUMI_COMMAND_STDERR": prevStderr} {
			if v == "" {
				continue
			}
			if err := session.Setenv(k, v); err != nil {
				logger.Log(ctx, diag.Warning, urn, fmt.Sprintf(setenvHint, k), false)
			}
		}
	}
	if in.Stdin != nil && *in.Stdin != "" {
		session.Stdin = strings.NewReader(*in.Stdin)
	}

	var stdout, stderr, both bytes.Buffer
	var mu sync.Mutex // stdout and stderr are copied by separate goroutines
	combined := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return both.Write(p) })
	r, w := io.Pipe()
	logw := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return w.Write(p) })
	outs := []io.Writer{&stdout, combined}
	if in.logStdout() {
		outs = append(outs, logw)
	}
	errs := []io.Writer{&stderr, combined}
	if in.logStderr() {
		errs = append(errs, logw)
	}
	session.Stdout = io.MultiWriter(outs...)
	session.Stderr = io.MultiWriter(errs...)

	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			logger.Log(ctx, diag.Info, urn, sc.Text(), true)
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	err = session.Run(cmd)
	_ = w.Close()
	<-done
	if err != nil {
		return "", "", fmt.Errorf("%w: running %q:\n%s", err, cmd, both.String())
	}
	return strings.TrimSuffix(stdout.String(), "\n"), strings.TrimSuffix(stderr.String(), "\n"), nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
