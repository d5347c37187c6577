package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/homeslice/homelab/internal/lab"
	"github.com/homeslice/homelab/internal/lab/engine"
	"github.com/homeslice/homelab/internal/lab/hosts"
	"github.com/homeslice/homelab/stacks"
)

// demo is the rebuild a person runs on real hosts, on a lab: bare hosts, the first
// preview stopping with the host-key pin lines, the lines run, `pulumi up`, and a
// second `pulumi up` that changes nothing. It runs stacks.Home itself through the
// real engine, so it shows every component as it lands.
func demo(ctx context.Context, args []string) (err error) {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	dir := stateFlags(fs)
	count := fs.Int("hosts", 3, "number of hosts")
	stackFile := fs.String("stack-file", "Pulumi.lab.yaml", "Pulumi stack file the lab writes (removed with the lab)")
	keep := fs.Bool("keep", false, "leave the lab and the demo's stack state up afterwards (scripts/lab down removes them)")
	_ = fs.Parse(args)
	begin := time.Now()

	if _, err := os.Stat(filepath.Join(*dir, "lab.json")); err == nil {
		return fmt.Errorf("a lab is already up (state in %s): run scripts/lab down first", *dir)
	}
	section("a lab: %d bare hosts and a Kubernetes control plane (scripts/lab up)", *count)
	l, err := createLab(ctx, *dir, *count, hosts.Netplan, *stackFile)
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = errors.New("interrupted") // the engine's own cancellation report says no more
		}
		if _, statErr := os.Stat(filepath.Join(*dir, "lab.json")); statErr != nil {
			return // nothing was made (tools missing), nothing to remove
		}
		err = errors.Join(err, finishDemo(*dir, *keep, err != nil))
	}()
	if err != nil {
		return err
	}
	fmt.Printf("lab %s up in %v: %s, API server %s\n", l.net.Lab(), l.took.Round(time.Second), l.net.Subnet(), l.cp.URL())
	nodes := lab.NodesConfig(l.net, l.hosts)
	for _, n := range nodes {
		fmt.Printf("  %-6s %-14s install-time address; static address %s\n", n["name"], n["address"], n["staticAddress"])
	}

	stateDir := filepath.Join(l.dir, "demo")
	section("the home stack: stacks.Home through the real engine (pulumi %s, this project's command and random doubles; state in %s)",
		engine.PulumiVersion, relative(stateDir))
	var prog progress
	st, err := engine.NewStack(stateDir, stacks.Home, engine.Options{
		Project: stacks.Namespace, Stack: "lab", Kubernetes: true, OnEvent: prog.event,
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	if err := st.WriteConfig(ctx, map[string]any{stacks.Namespace + ":nodes": nodes}); err != nil {
		return err
	}
	// the key goes in on the CLI's stdin, as `pulumi config set --secret … < key`
	if err := st.SetConfig(ctx, stacks.Namespace+":sshPrivateKey", string(l.net.PrivateKeyPEM()), true); err != nil {
		return err
	}
	fmt.Printf("config: %d nodes (name, address, user, staticAddress, gateway), sshPrivateKey (secret), no host keys\n", len(nodes))

	section("pulumi preview")
	prog.reset(false)
	res := st.Preview(ctx)
	if res.Err != nil {
		pins := pinLines(engine.ErrText(res.Err))
		if len(pins) == 0 {
			return fmt.Errorf("preview failed: %s\n%s", engine.ErrText(res.Err), res.Output)
		}
		fmt.Println("The preview stopped before changing anything: the hosts' SSH keys are not pinned. It printed:")
		for _, p := range pins {
			fmt.Println("  " + p)
		}
		fmt.Println("On real hosts you check each key against the host's console first; these are the lab's own")
		fmt.Println("freshly installed hosts, so the demo runs the lines now:")
		for _, p := range pins {
			words, err := shellWords(p)
			if err != nil {
				return err
			}
			if _, err := st.RunCLI(ctx, words[1:]...); err != nil {
				return err
			}
			fmt.Printf("  ran: %s\n", abbreviate(p))
		}
		section("pulumi preview (pinned)")
		prog.reset(false)
		if res = st.Preview(ctx); res.Err != nil {
			return fmt.Errorf("preview after pinning failed: %s\n%s", engine.ErrText(res.Err), res.Output)
		}
	}
	fmt.Printf("the plan: %s\n", prog.summary())

	section("pulumi up")
	start := time.Now()
	if res, err = upAsTheCLI(ctx, st, &prog); err != nil {
		return err
	}
	fmt.Printf("up: %s in %v\n", prog.summary(), time.Since(start).Round(100*time.Millisecond))
	if err := printOutputs(ctx, st); err != nil {
		return err
	}

	section("pulumi up, again: a converged lab changes nothing")
	start = time.Now()
	if res, err = upAsTheCLI(ctx, st, &prog); err != nil {
		return err
	}
	fmt.Printf("up: %s in %v\n", prog.summary(), time.Since(start).Round(100*time.Millisecond))
	if changed := res.Changed(); len(changed) > 0 {
		return fmt.Errorf("the second up changed %v: a converged lab must change nothing", changed)
	}
	fmt.Printf("\ndemo done in %v\n", time.Since(begin).Round(time.Second))
	return nil
}

// upAsTheCLI is `pulumi up` as the CLI runs it, the preview first, with the preview's
// plan and the update's line per resource shown apart.
func upAsTheCLI(ctx context.Context, st *engine.Stack, prog *progress) (engine.Result, error) {
	prog.reset(false)
	if res := st.Preview(ctx); res.Err != nil {
		return res, fmt.Errorf("up failed in its preview: %s\n%s", engine.ErrText(res.Err), tail(res.Output, 4000))
	}
	fmt.Printf("previewed: %s\n", prog.summary())
	prog.reset(true)
	// Skips no preview: the preview a person's `pulumi up` runs first just ran
	// above (shown as its own plan); a second one would only double the time.
	res := st.UpSkipPreview(ctx)
	if res.Err != nil {
		return res, fmt.Errorf("up failed: %s\n%s", engine.ErrText(res.Err), tail(res.Output, 4000))
	}
	return res, nil
}

// printOutputs shows the stack outputs as `pulumi stack output` does, secrets masked.
func printOutputs(ctx context.Context, st *engine.Stack) error {
	outs, err := st.Outputs(ctx)
	if err != nil {
		return fmt.Errorf("reading the stack outputs: %w", err)
	}
	names := make([]string, 0, len(outs))
	for k := range outs {
		names = append(names, k)
	}
	slices.Sort(names)
	fmt.Println("outputs:")
	for _, k := range names {
		v := "[secret]"
		if !outs[k].Secret {
			b, err := json.Marshal(outs[k].Value)
			if err != nil {
				return err
			}
			v = string(b)
		}
		fmt.Printf("  %s: %s\n", k, v)
	}
	return nil
}

// finishDemo removes the lab, or with keep says how to look at it and remove it.
func finishDemo(dir string, keep, failed bool) error {
	if keep {
		fmt.Printf("\nThe lab is still up (--keep): scripts/lab status lists it, ssh -i %s lab@<host address> logs in,\n", relative(filepath.Join(dir, "id_ed25519")))
		fmt.Printf("the demo's stack state is in %s. scripts/lab down removes all of it.\n", relative(filepath.Join(dir, "demo")))
		return nil
	}
	if failed {
		fmt.Println("\nremoving the lab (scripts/lab demo --keep leaves it up to look at)")
	}
	// a fresh context: the demo's may be cancelled (Ctrl-C) and the lab must still go
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := removeLab(ctx, dir)
	if err != nil {
		return fmt.Errorf("removing the lab (run scripts/lab down): %w", err)
	}
	fmt.Printf("lab %s removed\n", id)
	return nil
}

func section(format string, args ...any) {
	fmt.Printf("\n== "+format+"\n", args...)
}

// pinRE finds the pin lines in the program's error, however often the CLI repeats it.
var pinRE = regexp.MustCompile(`(?m)^\s*(pulumi config set --path '[^']*hostKey' '[^']*')\s*$`)

func pinLines(text string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range pinRE.FindAllStringSubmatch(text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// shellWords splits a line of plain, single-quoted and backslash-escaped words, the
// form shell.Quote prints the pin lines in.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted, escaped := false, false, false
	for _, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped, inWord = false, true
		case !quoted && r == '\\':
			escaped = true
		case quoted && r == '\'':
			quoted = false
		case quoted:
			cur.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted || escaped {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) < 4 || words[0] != "pulumi" || words[1] != "config" || words[2] != "set" {
		return nil, fmt.Errorf("not a pulumi config set line: %q", line)
	}
	return words, nil
}

// abbreviate shortens the key in a pin line for the "ran" echo to its type and
// last characters (every ed25519 key starts alike).
func abbreviate(line string) string {
	if i := strings.Index(line, " AAAA"); i >= 0 && len(line) > i+20 {
		return line[:i+1] + "…" + line[len(line)-9:]
	}
	return line
}

func relative(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// progress prints a line per resource as the engine finishes it and tallies the
// operations for the closing summary.
type progress struct {
	mu      sync.Mutex
	print   bool
	started map[string]time.Time
	final   map[string]apitype.OpType
	order   []string
}

func (p *progress) reset(print bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.print, p.started, p.final, p.order = print, map[string]time.Time{}, map[string]apitype.OpType{}, nil
}

// shown leaves out the stack itself and provider instances.
func shown(typ string) bool { return !strings.HasPrefix(typ, "pulumi:") }

func (p *progress) event(e events.EngineEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case e.ResourcePreEvent != nil:
		m := e.ResourcePreEvent.Metadata
		if !shown(m.Type) {
			return
		}
		if _, ok := p.started[m.URN]; !ok {
			p.started[m.URN] = time.Now()
		}
		if !p.print { // a preview: the planned operation is the result
			p.record(m.URN, m.Op)
		}
	case e.ResOutputsEvent != nil:
		m := e.ResOutputsEvent.Metadata
		if !shown(m.Type) || m.Op == apitype.OpCreateReplacement || m.Op == apitype.OpDeleteReplaced {
			return // parts of a replace, reported as one line
		}
		p.record(m.URN, m.Op)
		if p.print {
			fmt.Printf("  %-2s %-24s %-26s %-9s %6s\n", symbol(m.Op), lastPart(m.URN), m.Type, word(m.Op),
				time.Since(p.started[m.URN]).Round(100*time.Millisecond))
		}
	case e.ResOpFailedEvent != nil:
		m := e.ResOpFailedEvent.Metadata
		if p.print && shown(m.Type) {
			fmt.Printf("  !  %-24s %-26s failed (%s)\n", lastPart(m.URN), m.Type, m.Op)
		}
	}
}

func (p *progress) record(urn string, op apitype.OpType) {
	if _, ok := p.final[urn]; !ok {
		p.order = append(p.order, urn)
	}
	if prev, ok := p.final[urn]; !ok || prev == apitype.OpSame || op == apitype.OpReplace {
		p.final[urn] = op
	}
}

func (p *progress) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var created, changed, unchanged, deleted int
	for _, op := range p.final {
		switch op {
		case apitype.OpCreate:
			created++
		case apitype.OpSame, apitype.OpRead:
			unchanged++
		case apitype.OpDelete:
			deleted++
		default:
			changed++
		}
	}
	s := fmt.Sprintf("%d created, %d changed, %d unchanged", created, changed, unchanged)
	if deleted > 0 {
		s += fmt.Sprintf(", %d deleted", deleted)
	}
	return s
}

func lastPart(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

func symbol(op apitype.OpType) string {
	switch op {
	case apitype.OpCreate:
		return "+"
	case apitype.OpUpdate:
		return "~"
	case apitype.OpReplace:
		return "+-"
	case apitype.OpDelete:
		return "-"
	}
	return "="
}

func word(op apitype.OpType) string {
	switch op {
	case apitype.OpCreate:
		return "created"
	case apitype.OpUpdate:
		return "updated"
	case apitype.OpReplace:
		return "replaced"
	case apitype.OpDelete:
		return "deleted"
	case apitype.OpSame:
		return "unchanged"
	}
	return string(op)
}
