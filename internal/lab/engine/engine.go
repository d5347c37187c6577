// Package engine runs Pulumi programs through the REAL Pulumi engine for the lab:
// the pulumi CLI built by scripts/install-tools, driven by the Automation API with
// inline programs (so no language host is needed), a local file backend, a
// passphrase file, and a private PULUMI_HOME whose plugin directory holds this
// project's doubles of the command and random plugins (internal/lab/doubles) and,
// on request, the real kubernetes provider. Every event and every line of output is
// kept so tests can assert on operations and on secrets not leaking.
package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Options shape a stack.
type Options struct {
	Project string // default "lab"
	Stack   string // default "lab"
	// Kubernetes installs the real kubernetes provider plugin too.
	Kubernetes bool
	// Env is added to the CLI's (and so the plugins') environment.
	Env map[string]string
	// OnEvent, when set, sees every engine event as it arrives (a command's
	// progress lines); it must not block.
	OnEvent func(events.EngineEvent)
}

// Stack is one stack in its own backend, home and work directory.
type Stack struct {
	t     testing.TB // nil for NewStack
	stack auto.Stack
	// Dir holds backend/, home/, work/ and the passphrase file.
	Dir string

	cli, work, name string
	env             []string
	onEvent         func(events.EngineEvent)
	ownDir          bool

	mu     sync.Mutex
	events []events.EngineEvent
	output bytes.Buffer
}

// Passphrase is the lab stacks' config passphrase (test data, not a secret).
const Passphrase = "lab-passphrase"

// New creates a stack for program in the test's temporary directory, failing the
// test when a tool is missing.
func New(t testing.TB, program pulumi.RunFunc, opts Options) *Stack {
	t.Helper()
	s, err := NewStack(t.TempDir(), program, opts)
	if err != nil {
		t.Fatalf("lab engine: %v", err)
	}
	s.t = t
	return s
}

// NewStack creates a stack for program under dir, for a command rather than a
// test (scripts/lab demo). An empty dir is a new temporary directory that Close
// removes; a given one is created when missing and kept, state included.
func NewStack(dir string, program pulumi.RunFunc, opts Options) (*Stack, error) {
	own := dir == ""
	if own {
		d, err := os.MkdirTemp("", "homelab-engine-")
		if err != nil {
			return nil, fmt.Errorf("creating the stack directory: %w", err)
		}
		dir = d
	}
	s, err := newStack(dir, program, opts)
	if err != nil {
		if own {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	s.ownDir = own
	return s, nil
}

// Close removes the stack's directory when NewStack made it. The plugins the
// engine started exit with each operation, so nothing else is left running.
func (s *Stack) Close() error {
	if !s.ownDir {
		return nil
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		return fmt.Errorf("removing %s: %w", s.Dir, err)
	}
	return nil
}

func newStack(dir string, program pulumi.RunFunc, opts Options) (*Stack, error) {
	if opts.Project == "" {
		opts.Project = "lab"
	}
	if opts.Stack == "" {
		opts.Stack = "lab"
	}
	cli, err := PulumiCLI()
	if err != nil {
		return nil, err
	}
	s := &Stack{Dir: dir, onEvent: opts.OnEvent}
	home, backend, work := filepath.Join(dir, "home"), filepath.Join(dir, "backend"), filepath.Join(dir, "work")
	tmp := filepath.Join(dir, "tmp")
	for _, d := range []string{home, backend, work, tmp, filepath.Join(dir, "cli", "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// the Automation API wants <root>/bin/pulumi; a kept dir may have it already
	link := filepath.Join(dir, "cli", "bin", "pulumi")
	_ = os.Remove(link)
	if err := os.Symlink(cli, link); err != nil {
		return nil, err
	}
	pass := filepath.Join(dir, "passphrase")
	if err := os.WriteFile(pass, []byte(Passphrase), 0o600); err != nil {
		return nil, err
	}

	plugins, err := doubles()
	if err != nil {
		return nil, err
	}
	if err := installPlugin(home, "resource", "command", CommandVersion, filepath.Join(plugins, "pulumi-resource-command")); err != nil {
		return nil, fmt.Errorf("installing the command double: %w", err)
	}
	if err := installPlugin(home, "resource", "random", RandomVersion, filepath.Join(plugins, "pulumi-resource-random")); err != nil {
		return nil, fmt.Errorf("installing the random double: %w", err)
	}
	if opts.Kubernetes {
		k8s, err := KubernetesProvider()
		if err != nil {
			return nil, err
		}
		if err := installPlugin(home, "resource", "kubernetes", KubernetesVersion, k8s); err != nil {
			return nil, fmt.Errorf("installing the kubernetes provider: %w", err)
		}
	}

	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{
		Root:    filepath.Join(dir, "cli"),
		Version: semver.MustParse(strings.TrimPrefix(PulumiVersion, "v")),
	})
	if err != nil {
		return nil, fmt.Errorf("pulumi CLI %s: %w", cli, err)
	}
	env := map[string]string{
		"PULUMI_CONFIG_PASSPHRASE_FILE":               pass,
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PULUMI_SKIP_CONFIRMATIONS":                   "true",
		"PULUMI_HOME":                                 home,
		// The kubernetes provider writes each kubeconfig it is given to a temp
		// file and leaves it: keep those (they hold the lab's admin key) in the
		// stack's directory, removed with it.
		"TMPDIR": tmp,
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	ctx := context.Background()
	st, err := auto.UpsertStackInlineSource(ctx, opts.Stack, opts.Project, program,
		auto.Pulumi(cmd),
		auto.PulumiHome(home),
		auto.WorkDir(work),
		auto.EnvVars(env),
		auto.SecretsProvider("passphrase"),
		auto.Project(workspace.Project{
			Name:    tokens.PackageName(opts.Project),
			Runtime: workspace.NewProjectRuntimeInfo("go", nil),
			Backend: &workspace.ProjectBackend{URL: "file://" + backend},
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("creating stack %s: %w", opts.Stack, err)
	}
	s.stack = st
	s.cli, s.work, s.name = cli, work, opts.Stack
	s.env = os.Environ()
	for k, v := range env {
		s.env = append(s.env, k+"="+v)
	}
	return s, nil
}

// Step is one resource operation the engine reported.
type Step struct {
	Op   apitype.OpType
	URN  string
	Type string
	Name string
	// Diffs are the top-level keys that changed.
	Diffs []string
}

// Result is what one engine operation did.
type Result struct {
	Steps  []Step
	Output string // the CLI's progress output
	Err    error
	// Preview is set on the result of an Up whose preview failed: Steps and
	// Output are the preview's, and no update ran.
	Preview bool
}

// Ops lists the operations on the resource called name, in order.
func (r Result) Ops(name string) []apitype.OpType {
	var ops []apitype.OpType
	for _, s := range r.Steps {
		if s.Name == name {
			ops = append(ops, s.Op)
		}
	}
	return ops
}

// Changed lists the names of resources with an operation other than "same",
// "read" or "refresh".
func (r Result) Changed() []string {
	seen := map[string]bool{}
	var names []string
	for _, s := range r.Steps {
		switch s.Op {
		case apitype.OpSame, apitype.OpRead, apitype.OpRefresh:
			continue
		}
		if !seen[s.Name] {
			seen[s.Name] = true
			names = append(names, s.Name)
		}
	}
	return names
}

// run collects the events and output of one operation.
func (s *Stack) run(op func(ch chan events.EngineEvent, out *bytes.Buffer) error) Result {
	ch := make(chan events.EngineEvent)
	var steps []Step
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			s.mu.Lock()
			s.events = append(s.events, e)
			s.mu.Unlock()
			if s.onEvent != nil {
				s.onEvent(e)
			}
			if pre := e.ResourcePreEvent; pre != nil {
				m := pre.Metadata
				steps = append(steps, Step{Op: m.Op, URN: m.URN, Type: m.Type, Name: nameOf(m.URN), Diffs: m.Diffs})
			}
		}
	}()
	var out bytes.Buffer
	err := op(ch, &out)
	<-done
	s.mu.Lock()
	s.output.Write(out.Bytes())
	s.mu.Unlock()
	return Result{Steps: steps, Output: out.String(), Err: err}
}

func nameOf(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

// SetProgram replaces the inline program for the next operations.
func (s *Stack) SetProgram(program pulumi.RunFunc) {
	s.stack.Workspace().SetProgram(program)
}

// Up runs `pulumi up` as a person's CLI does: a preview first, then the update,
// which does not start when the preview fails. (The Automation API alone runs
// `up --skip-preview`, so a program whose preview fails would pass.) The result
// is the update's; a failed preview's result has Preview set and its error.
func (s *Stack) Up(ctx context.Context, opts ...optup.Option) Result {
	pre := s.Preview(ctx)
	if pre.Err != nil {
		pre.Err = fmt.Errorf("pulumi up: the preview failed, nothing was updated: %w", pre.Err)
		pre.Preview = true
		return pre
	}
	// The preview the CLI runs first has just passed: the update itself is the
	// Automation API's Up, which alone would skip it.
	return s.UpSkipPreview(ctx, opts...)
}

// UpSkipPreview runs `pulumi up --skip-preview`, the Automation API's own Up.
// Only for a caller that previewed itself (Up, the demo) or a test that says
// why it must not preview first (lab.UpSkipPreview takes the reason).
func (s *Stack) UpSkipPreview(ctx context.Context, opts ...optup.Option) Result {
	return s.run(func(ch chan events.EngineEvent, out *bytes.Buffer) error {
		_, err := s.stack.Up(ctx, append(opts, optup.EventStreams(ch), optup.ProgressStreams(out), optup.ErrorProgressStreams(out))...)
		return err
	})
}

// Preview runs `pulumi preview`.
func (s *Stack) Preview(ctx context.Context, opts ...optpreview.Option) Result {
	return s.run(func(ch chan events.EngineEvent, out *bytes.Buffer) error {
		_, err := s.stack.Preview(ctx, append(opts, optpreview.EventStreams(ch), optpreview.ProgressStreams(out), optpreview.ErrorProgressStreams(out))...)
		return err
	})
}

// PreviewExpectNoChanges runs `pulumi preview --expect-no-changes`; Err is set
// when the engine planned any change.
func (s *Stack) PreviewExpectNoChanges(ctx context.Context) Result {
	return s.Preview(ctx, optpreview.ExpectNoChanges())
}

// Refresh runs `pulumi refresh`.
func (s *Stack) Refresh(ctx context.Context, opts ...optrefresh.Option) Result {
	return s.run(func(ch chan events.EngineEvent, out *bytes.Buffer) error {
		_, err := s.stack.Refresh(ctx, append(opts, optrefresh.EventStreams(ch), optrefresh.ProgressStreams(out), optrefresh.ErrorProgressStreams(out))...)
		return err
	})
}

// SetConfig runs `pulumi config set --path [--secret] key value`. A secret goes
// on the CLI's stdin, as a person pipes a key file in, never on its command line
// (the Automation API would pass it as an argument).
func (s *Stack) SetConfig(ctx context.Context, path, value string, secret bool) error {
	if !secret {
		return s.stack.SetConfigWithOptions(ctx, path, auto.ConfigValue{Value: value}, &auto.ConfigOptions{Path: true})
	}
	cmd := exec.CommandContext(ctx, s.cli, "config", "set", "--stack", s.name, "--path", "--secret", "--raw", path)
	cmd.Dir, cmd.Env = s.work, s.env
	cmd.Stdin = strings.NewReader(value)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pulumi config set --secret %s: %w: %s", path, err, out)
	}
	return nil
}

// Export is `pulumi stack export` as a user runs it: secrets stay encrypted.
// (The Automation API's own export adds --show-secrets.)
func (s *Stack) Export(ctx context.Context) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.cli, "stack", "export", "--stack", s.name)
	cmd.Dir, cmd.Env = s.work, s.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("pulumi stack export: %w: %s", err, stderr.String())
	}
	return out, nil
}

// RunCLI runs the real pulumi CLI on this stack as a person would in its project
// directory (`pulumi config set …`), with the stack's backend, home and
// passphrase; args must not carry a secret (they are a command line).
func (s *Stack) RunCLI(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.cli, append(args, "--stack", s.name)...)
	cmd.Dir, cmd.Env = s.work, s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("pulumi %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// BackendFiles is the content of every file in the state backend (checkpoints,
// history, backups), concatenated.
func (s *Stack) BackendFiles() ([]byte, error) {
	var all bytes.Buffer
	err := filepath.WalkDir(filepath.Join(s.Dir, "backend"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return err
			}
			if b, err = io.ReadAll(zr); err != nil {
				return err
			}
		}
		all.Write(b)
		return nil
	})
	return all.Bytes(), err
}

// Outputs are the stack outputs.
func (s *Stack) Outputs(ctx context.Context) (auto.OutputMap, error) {
	return s.stack.Outputs(ctx)
}

// EventLog is every engine event seen so far, as JSON lines.
func (s *Stack) EventLog() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b bytes.Buffer
	for _, e := range s.events {
		line, err := json.Marshal(e.EngineEvent)
		if err != nil {
			continue
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Diagnostics are the diagnostic events seen so far: what plugins and the engine
// logged, status lines included.
func (s *Stack) Diagnostics() []apitype.DiagnosticEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d []apitype.DiagnosticEvent
	for _, e := range s.events {
		if e.DiagnosticEvent != nil {
			d = append(d, *e.DiagnosticEvent)
		}
	}
	return d
}

// Output is all progress output seen so far.
func (s *Stack) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.output.String()
}

// Leaks lists where secret appears in plain text: the stack export, the state
// backend's files, the engine event log or the run output, each with context.
func (s *Stack) Leaks(ctx context.Context, secret string) ([]string, error) {
	if secret == "" {
		return nil, errors.New("looking for leaks: empty secret")
	}
	export, err := s.Export(ctx)
	if err != nil {
		return nil, err
	}
	backend, err := s.BackendFiles()
	if err != nil {
		return nil, fmt.Errorf("reading the backend: %w", err)
	}
	var leaks []string
	for _, w := range []struct {
		where string
		text  []byte
	}{{"stack export", export}, {"state backend", backend}, {"event log", s.EventLog()}, {"run output", []byte(s.Output())}} {
		if i := bytes.Index(w.text, []byte(secret)); i >= 0 {
			leaks = append(leaks, fmt.Sprintf("secret in plain text in the %s: …%s…", w.where, w.text[max(0, i-300):min(len(w.text), i+100)]))
		}
	}
	return leaks, nil
}

// AssertNoLeak fails the test when secret appears in plain text in the stack
// export, the state backend, the engine event log or the run output.
func (s *Stack) AssertNoLeak(ctx context.Context, secret string) {
	if s.t == nil {
		panic("engine: AssertNoLeak needs a stack made by New")
	}
	s.t.Helper()
	leaks, err := s.Leaks(ctx, secret)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, l := range leaks {
		s.t.Error(l)
	}
}

// ErrContains reports whether err's text (the CLI's stderr included) contains want.
func ErrContains(err error, want string) bool {
	return err != nil && strings.Contains(ErrText(err), want)
}

// ErrText is err's message followed by the CLI's stderr, where the program's
// own error (pin lines, an unreachable host) is.
func ErrText(err error) string {
	if err == nil {
		return ""
	}
	var ae interface{ Stderr() string }
	if errors.As(err, &ae) {
		return err.Error() + "\n" + ae.Stderr()
	}
	return err.Error()
}
