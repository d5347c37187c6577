// Package lab is the scenario API of the lab tests: test hosts (internal/lab/hosts),
// optionally a real Kubernetes control plane they forward :16443 to
// (internal/lab/controlplane), and a stack of the given program run through the real
// Pulumi engine (internal/lab/engine). A scenario reads as a person's day:
//
//	l := lab.New(t, 3, lab.Options{Project: "homelab", Program: stacks.Home})
//	l.WriteNodesConfig()
//	l.Preview(...)  l.Up(nil)  l.Node(1).Reinstall()  l.ConfigSet(path, v)  l.AssertNoChanges()
//
// Every method fails the test (t.Fatal) with what the engine or the host said; on
// failure the lab logs what a person would look at (each host's addresses, steps and
// journal, the engine output, the control plane's logs). The program is passed in, so
// this package never imports the stacks it tests.
package lab

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/homeslice/homelab/internal/lab/controlplane"
	"github.com/homeslice/homelab/internal/lab/engine"
	"github.com/homeslice/homelab/internal/lab/hosts"
)

// Options shape a lab.
type Options struct {
	// Program is the Pulumi program under test (stacks.Home); required.
	Program pulumi.RunFunc
	// Project is the Pulumi project and so the config namespace; default "lab".
	Project string
	// NetworkStack of every host; default hosts.Netplan.
	NetworkStack hosts.Stack
	// CloudInit gives every host cloud-init's network layout (netplan only).
	CloudInit bool
	// DHCP runs a DHCP server on the lab network and every host gets its install-time
	// address from it, as a fresh install on a LAN does (hosts.Options.DHCP).
	DHCP bool
	// Kubernetes starts a control plane with a node per host, makes every host
	// forward :16443 to it, and installs the real kubernetes provider plugin.
	Kubernetes bool
	// Env is added to the engine's (and so the plugins') environment.
	Env map[string]string
	// Dump is run on every host (as root) when the test fails, after the default
	// dump of addresses, homelab steps and network journals.
	Dump string
}

// Lab is one scenario's machines and stack.
type Lab struct {
	t    testing.TB
	opts Options

	// Network is the hosts' Docker network: addresses, the installer's SSH key.
	Network *hosts.Network
	// ControlPlane is nil unless Options.Kubernetes.
	ControlPlane *controlplane.ControlPlane
	// Stack is the program's stack in the real engine.
	Stack *engine.Stack

	nodes []*Node
	cpLog *syncBuffer
}

// New starts count hosts (node1…) and, with Kubernetes, the control plane, and
// creates a stack of the program with no config. Everything is removed when the
// test ends.
func New(t testing.TB, count int, opts Options) *Lab {
	t.Helper()
	if opts.Program == nil {
		t.Fatal("lab.New: Options.Program is required")
	}
	if opts.Project == "" {
		opts.Project = "lab"
	}
	if opts.NetworkStack == "" {
		opts.NetworkStack = hosts.Netplan
	}
	ctx := context.Background()
	n, err := hosts.NewNetwork(ctx, hosts.Options{DHCP: opts.DHCP})
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(context.Background()); err != nil {
			t.Errorf("lab: %v", err)
		}
	})
	l := &Lab{t: t, opts: opts, Network: n, cpLog: &syncBuffer{}}
	hs, err := n.NewHostsWith(ctx, count, hosts.HostOptions{Stack: opts.NetworkStack, CloudInit: opts.CloudInit})
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	for i, h := range hs {
		l.nodes = append(l.nodes, &Node{l: l, h: h, i: i})
	}
	if opts.Kubernetes {
		var nodes []controlplane.Node
		for _, h := range hs {
			nodes = append(nodes, controlplane.Node{Name: h.Name(), IP: h.IP()})
		}
		cp, err := controlplane.Start(ctx, controlplane.Options{
			Dir:         t.TempDir(),
			BindAddress: n.Gateway(),
			SANPrefixes: []netip.Prefix{n.Subnet()},
			Nodes:       nodes,
			HostDirs:    n,
			Log:         l.cpLog,
		})
		if err != nil {
			t.Fatalf("lab: %v", err)
		}
		t.Cleanup(cp.Stop)
		l.ControlPlane = cp
		if err := n.ForwardAPIServer(ctx, cp.APIAddress()); err != nil {
			t.Fatalf("lab: %v", err)
		}
	}
	// Registered last, so it runs first: the hosts and control plane still exist.
	t.Cleanup(l.dumpOnFailure)
	l.Stack = engine.New(t, opts.Program, engine.Options{
		Project: opts.Project, Stack: "lab", Kubernetes: opts.Kubernetes, Env: opts.Env,
	})
	return l
}

// Node returns the i-th host (0-based: Node(0) is node1).
func (l *Lab) Node(i int) *Node {
	l.t.Helper()
	if i < 0 || i >= len(l.nodes) {
		l.t.Fatalf("lab: no node %d in a lab of %d", i, len(l.nodes))
	}
	return l.nodes[i]
}

// Nodes returns every host in order.
func (l *Lab) Nodes() []*Node { return append([]*Node(nil), l.nodes...) }

// key namespaces a config key with the project unless it names its own namespace.
func (l *Lab) key(path string) string {
	if head, _, _ := strings.Cut(path, "."); strings.Contains(head, ":") {
		return path
	}
	return l.opts.Project + ":" + path
}

// WriteConfig writes plain values into the stack file as a person edits
// Pulumi.lab.yaml; keys without a namespace get the project's ("nodes").
func (l *Lab) WriteConfig(values map[string]any) {
	l.t.Helper()
	namespaced := map[string]any{}
	for k, v := range values {
		namespaced[l.key(k)] = v
	}
	if err := l.Stack.WriteConfig(context.Background(), namespaced); err != nil {
		l.t.Fatalf("lab: %v", err)
	}
}

// ConfigSet is `pulumi config set --path <path> <value>`.
func (l *Lab) ConfigSet(path, value string) {
	l.t.Helper()
	if err := l.Stack.SetConfig(context.Background(), l.key(path), value, false); err != nil {
		l.t.Fatalf("lab: pulumi config set --path %s: %v", path, err)
	}
}

// ConfigSetSecret is `pulumi config set --secret --path <path>` with the value
// passed as the CLI takes it, never logged.
func (l *Lab) ConfigSetSecret(path, value string) {
	l.t.Helper()
	if err := l.Stack.SetConfig(context.Background(), l.key(path), value, true); err != nil {
		l.t.Fatalf("lab: %v", err) // the value went on stdin: the error cannot quote it
	}
}

// Up writes config (when not nil) and runs `pulumi up` as a person does, the
// preview first, failing the test unless both succeed. The result lists every
// resource's operations in the update.
func (l *Lab) Up(config map[string]any) engine.Result {
	l.t.Helper()
	if config != nil {
		l.WriteConfig(config)
	}
	res := l.Stack.Up(context.Background())
	if res.Err != nil {
		l.t.Fatalf("pulumi up failed: %s\n%s", engine.ErrText(res.Err), res.Output)
	}
	return res
}

// UpSkipPreview is Up with `--skip-preview`. why says why this test must not
// preview first; a scenario uses it only where a preview would change what it
// tests (a host that must not be probed before the update, say).
func (l *Lab) UpSkipPreview(config map[string]any, why string) engine.Result {
	l.t.Helper()
	if why == "" {
		l.t.Fatal("lab: UpSkipPreview needs the reason the test skips the preview")
	}
	if config != nil {
		l.WriteConfig(config)
	}
	l.t.Logf("pulumi up --skip-preview: %s", why)
	res := l.Stack.UpSkipPreview(context.Background())
	if res.Err != nil {
		l.t.Fatalf("pulumi up --skip-preview failed: %s\n%s", engine.ErrText(res.Err), res.Output)
	}
	return res
}

// UpFails writes config (when not nil) and runs `pulumi up` (preview first),
// failing the test unless the run fails with every one of want in its message:
// in the preview or in the update.
func (l *Lab) UpFails(config map[string]any, want ...string) engine.Result {
	l.t.Helper()
	if config != nil {
		l.WriteConfig(config)
	}
	res := l.Stack.Up(context.Background())
	l.expectFailure("pulumi up", res, want)
	return res
}

// Preview runs `pulumi preview`, failing the test unless it succeeds; the result
// lists what an up would do to every resource.
func (l *Lab) Preview(opts ...optpreview.Option) engine.Result {
	l.t.Helper()
	res := l.Stack.Preview(context.Background(), opts...)
	if res.Err != nil {
		l.t.Fatalf("pulumi preview failed: %s\n%s", engine.ErrText(res.Err), res.Output)
	}
	return res
}

// PreviewFails runs `pulumi preview`, failing the test unless the preview fails
// with every one of want in its message.
func (l *Lab) PreviewFails(want ...string) engine.Result {
	l.t.Helper()
	res := l.Stack.Preview(context.Background())
	l.expectFailure("pulumi preview", res, want)
	return res
}

func (l *Lab) expectFailure(what string, res engine.Result, want []string) {
	l.t.Helper()
	if res.Err == nil {
		l.t.Fatalf("%s succeeded, want a failure saying %q\n%s", what, want, res.Output)
	}
	for _, w := range want {
		if !engine.ErrContains(res.Err, w) {
			l.t.Errorf("%s failed without saying %q:\n%s", what, w, engine.ErrText(res.Err))
		}
	}
}

// AssertNoChanges is the end of every scenario: `pulumi preview
// --expect-no-changes` passes and a following `pulumi up` changes nothing.
func (l *Lab) AssertNoChanges() {
	l.t.Helper()
	ctx := context.Background()
	res := l.Stack.PreviewExpectNoChanges(ctx)
	if res.Err != nil {
		l.t.Fatalf("a converged lab must preview with no changes; it planned %s:\n%s\n%s", planned(res), engine.ErrText(res.Err), res.Output)
	}
	again := l.Stack.Up(ctx)
	if again.Err != nil {
		l.t.Fatalf("a second pulumi up failed: %s\n%s", engine.ErrText(again.Err), again.Output)
	}
	if c := again.Changed(); len(c) > 0 {
		l.t.Fatalf("a second pulumi up changed %s", planned(again))
	}
}

// planned lists the resources with a change and their operations.
func planned(r engine.Result) string {
	var parts []string
	for _, name := range r.Changed() {
		parts = append(parts, fmt.Sprintf("%s %v", name, r.Ops(name)))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// WaitFor polls check every second until it returns nil, failing the test with the
// last error after timeout. For states a host reaches on its own (a rollback timer):
// the timeout bounds the wait, it is not what the test asserts.
func (l *Lab) WaitFor(what string, timeout time.Duration, check func() error) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s: not after %v: %v", what, timeout, err)
		}
		time.Sleep(time.Second)
	}
}

// defaultDump is what a person looks at on a host first: addresses, routes, the
// network configuration, the homelab step markers and the journals of the units
// that change the network.
const defaultDump = "ip -4 addr; ip route; systemctl --failed --no-legend --no-pager; " +
	"ls -l /etc/netplan /etc/systemd/network /var/lib/homelab/steps 2>&1; " +
	"cat /var/lib/homelab/steps/* 2>&1; " +
	"journalctl --no-pager -n 60 -u homelab-ip-apply -u homelab-ip-rollback -u systemd-networkd -u NetworkManager 2>&1"

// dumpOnFailure logs each host's state, the engine's last output and the control
// plane's logs when the test failed.
func (l *Lab) dumpOnFailure() {
	if !l.t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, n := range l.nodes {
		if !n.h.Running(ctx) {
			l.t.Logf("--- %s (%s): powered off ---", n.Name(), n.IP())
			continue
		}
		cmd := defaultDump
		if l.opts.Dump != "" {
			cmd += "; " + l.opts.Dump
		}
		out, _ := n.h.Exec(ctx, cmd+" 2>&1")
		l.t.Logf("--- %s (%s, machine-id %s) ---\n%s", n.Name(), n.IP(), n.MachineID(), out)
	}
	if l.Stack != nil {
		out := l.Stack.Output()
		l.t.Logf("--- engine output (last 6000 bytes of %d) ---\n%s", len(out), out[max(0, len(out)-6000):])
	}
	if l.ControlPlane != nil {
		// the test's temporary directory goes with the test: log the logs' tails
		logs, _ := filepath.Glob(filepath.Join(l.ControlPlane.Dir(), "logs", "*.log"))
		for _, f := range logs {
			b, _ := os.ReadFile(f)
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			l.t.Logf("--- control plane: %s (last 15 lines) ---\n%s", filepath.Base(f), strings.Join(lines[max(0, len(lines)-15):], "\n"))
		}
		if p := l.cpLog.String(); p != "" {
			l.t.Logf("--- storage provisioner ---\n%s", p)
		}
	}
}

// syncBuffer keeps the provisioner's messages for the failure dump.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
