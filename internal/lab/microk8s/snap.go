package microk8s

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
)

// Snap runs `snap args...` and returns its exit code.
func (h *Host) Snap(ctx context.Context, io IO, args []string) int {
	if len(args) >= 2 && args[0] == "run" {
		return h.snapRun(ctx, io, args[1], args[2:])
	}
	code := h.snap(ctx, io, args)
	h.logLine("snap", args, code)
	return code
}

// snapRun is `snap run <app>`: the microk8s commands and the agent daemon.
func (h *Host) snapRun(ctx context.Context, io IO, app string, args []string) int {
	switch {
	case app == "microk8s.daemon-cluster-agent":
		return h.agentMain(ctx, io)
	case app == "microk8s":
		return h.Microk8s(ctx, io, args)
	case strings.HasPrefix(app, "microk8s."):
		return h.Microk8s(ctx, io, append([]string{strings.TrimPrefix(app, "microk8s.")}, args...))
	}
	fprintf(io.Err, "error: snap %q not found\n", app)
	return 1
}

func (h *Host) agentMain(ctx context.Context, io IO) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := h.RunAgent(ctx); err != nil {
		fprintf(io.Err, "%v\n", err)
		h.logText("agent failed: " + err.Error())
		return 1
	}
	return 0
}

const classicError = `error: This revision of snap "microk8s" was published using classic confinement and thus may perform
       arbitrary system changes outside of the security sandbox that snaps are usually confined to,
       which may put your system at risk.

       If you understand and want to proceed repeat the command including --classic.
`

// snapFlags splits args into names and flags (--channel=x, --channel x).
func snapFlags(args []string) (names []string, flags map[string]string) {
	flags = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			names = append(names, a)
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok && k == "channel" && i+1 < len(args) {
			i++
			v = args[i]
		}
		flags[k] = v
	}
	return names, flags
}

func (h *Host) snap(ctx context.Context, io IO, args []string) int {
	if len(args) == 0 {
		fprintf(io.Out, "The snap command lets you install, configure, refresh and remove snaps.\n")
		return 0
	}
	names, flags := snapFlags(args[1:])
	for _, n := range names {
		if n != "microk8s" {
			fprintf(io.Err, "error: snap %q not found\n", n)
			return 1
		}
	}
	switch args[0] {
	case "install":
		return h.snapInstall(ctx, io, names, flags)
	case "remove":
		if len(names) == 0 {
			fprintf(io.Err, "error: the required argument `<snap> (at least 1 argument)` was not provided\n")
			return 1
		}
		if !h.Installed() {
			fprintf(io.Err, "snap \"microk8s\" is not installed\n")
			return 0
		}
		_ = h.remove(ctx)
		if _, purge := flags["purge"]; purge {
			fprintf(io.Out, "microk8s removed\n")
		} else {
			fprintf(io.Out, "microk8s removed (snap data snapshot saved)\n")
		}
		return 0
	case "refresh":
		return h.snapRefresh(ctx, io, names, flags)
	case "list":
		return h.snapList(io, names)
	case "restart", "start", "stop":
		if !h.Installed() {
			fprintf(io.Err, "error: snap \"microk8s\" not found\n")
			return 1
		}
		verb := map[string]string{"restart": "Restarted", "start": "Started", "stop": "Stopped"}[args[0]]
		if args[0] != "restart" {
			if _, err := h.runner().Run(ctx, "systemctl", args[0], AgentUnit); err != nil {
				fprintf(io.Err, "error: %v\n", err)
				return 1
			}
		}
		fprintf(io.Out, "%s.\n", verb)
		return 0
	case "version", "--version":
		fprintf(io.Out, "snap    2.63+homelab-fake\nsnapd   2.63+homelab-fake\n")
		return 0
	}
	fprintf(io.Err, "error: unknown command %q, see 'snap help'.\n", args[0])
	return 1
}

func (h *Host) snapInstall(ctx context.Context, io IO, names []string, flags map[string]string) int {
	if len(names) == 0 {
		fprintf(io.Err, "error: the required argument `<snap> (at least 1 argument)` was not provided\n")
		return 1
	}
	if h.Installed() {
		fprintf(io.Err, "snap \"microk8s\" is already installed, see 'snap help refresh'\n")
		return 0
	}
	tracking, rel, err := resolveChannel(flags["channel"])
	if err != nil {
		fprintf(io.Err, "error: %v\n", err)
		return 1
	}
	if _, ok := flags["classic"]; !ok {
		fprintf(io.Err, "%s", classicError)
		return 1
	}
	if err := h.install(ctx, tracking, rel); err != nil {
		fprintf(io.Err, "error: cannot perform the following tasks:\n- Run install hook of \"microk8s\" snap if present (run hook \"install\": %v)\n", err)
		return 1
	}
	fprintf(io.Out, "microk8s (%s) %s from Canonical✓ installed\n", tracking, rel.Version)
	return 0
}

func (h *Host) snapRefresh(ctx context.Context, io IO, names []string, flags map[string]string) int {
	s, ok := h.loadSnap()
	if len(names) == 0 {
		fprintf(io.Out, "All snaps up to date.\n")
		return 0
	}
	if !ok {
		fprintf(io.Err, "error: snap \"microk8s\" is not installed\n")
		return 1
	}
	if hold, ok := flags["hold"]; ok {
		s.Held = true
		if err := h.saveSnap(s); err != nil {
			fprintf(io.Err, "error: %v\n", err)
			return 1
		}
		if hold == "" || hold == "forever" {
			fprintf(io.Out, "General refreshes of \"microk8s\" held indefinitely\n")
		} else {
			fprintf(io.Out, "General refreshes of \"microk8s\" held until %s\n", hold)
		}
		return 0
	}
	if _, ok := flags["unhold"]; ok {
		s.Held = false
		if err := h.saveSnap(s); err != nil {
			fprintf(io.Err, "error: %v\n", err)
			return 1
		}
		fprintf(io.Out, "Removed general holds on \"microk8s\"\n")
		return 0
	}
	ch := flags["channel"]
	if ch == "" {
		ch = s.Channel
	}
	tracking, rel, err := resolveChannel(ch)
	if err != nil {
		fprintf(io.Err, "error: %v\n", err)
		return 1
	}
	if tracking == s.Channel && rel.Revision == s.Revision {
		fprintf(io.Err, "snap \"microk8s\" has no updates available\n")
		return 0
	}
	old := fmt.Sprint(s.Revision)
	s.Channel, s.Version, s.Revision = tracking, rel.Version, rel.Revision
	rev := fmt.Sprint(rel.Revision)
	// A refresh copies $SNAP_DATA to the new revision and moves `current`.
	for _, base := range []string{h.path("/var/snap/microk8s"), h.path("/snap/microk8s")} {
		if err := os.Rename(filepath.Join(base, old), filepath.Join(base, rev)); err != nil {
			fprintf(io.Err, "error: %v\n", err)
			return 1
		}
		_ = os.Remove(filepath.Join(base, "current"))
		if err := os.Symlink(rev, filepath.Join(base, "current")); err != nil {
			fprintf(io.Err, "error: %v\n", err)
			return 1
		}
	}
	if err := h.saveSnap(s); err != nil {
		fprintf(io.Err, "error: %v\n", err)
		return 1
	}
	_ = writeFile(h.unitPath(), []byte(h.unitFile()), 0o644)
	_, _ = h.runner().Run(ctx, "systemctl", "daemon-reload")
	_, _ = h.runner().Run(ctx, "systemctl", "restart", AgentUnit)
	fprintf(io.Out, "microk8s (%s) %s from Canonical✓ refreshed\n", s.Channel, rel.Version)
	return 0
}

func (h *Host) snapList(io IO, names []string) int {
	s, ok := h.loadSnap()
	if !ok {
		if len(names) > 0 {
			fprintf(io.Err, "error: no matching snaps installed\n")
			return 1
		}
		fprintf(io.Err, "No snaps are installed yet. Try 'snap install hello-world'.\n")
		return 0
	}
	notes := "classic"
	if s.Held {
		notes += ",held"
	}
	tw := tabwriter.NewWriter(io.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Name\tVersion\tRev\tTracking\tPublisher\tNotes")
	fmt.Fprintf(tw, "microk8s\t%s\t%d\t%s\tcanonical✓\t%s\n", s.Version, s.Revision, s.Channel, notes)
	_ = tw.Flush()
	return 0
}

// Main is the multi-call binary: dispatch on argv[0]'s base name (snap,
// microk8s, microk8s.<cmd>, microk8s-agent).
func Main(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	h := HostFromEnv()
	std := IO{In: stdin, Out: stdout, Err: stderr}
	name := filepath.Base(argv[0])
	args := argv[1:]
	switch {
	case name == "snap":
		return h.Snap(ctx, std, args)
	case name == "microk8s-agent":
		return h.agentMain(ctx, std)
	case name == "microk8s":
		return h.Microk8s(ctx, std, args)
	case strings.HasPrefix(name, "microk8s."):
		return h.Microk8s(ctx, std, append([]string{strings.TrimPrefix(name, "microk8s.")}, args...))
	}
	fprintf(stderr, "fake-microk8s: call me as snap, microk8s or microk8s-agent (got %q)\n", name)
	return 2
}
