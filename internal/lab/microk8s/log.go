package microk8s

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	// joinString is <ip>:<port>/<token>[/<check>], with or without a scheme.
	joinString = regexp.MustCompile(`^[^\s/]+:\d+/[^\s]+$`)
	// tokenLike is a 32+ character alphanumeric word: a token on its own.
	tokenLike = regexp.MustCompile(`^[A-Za-z0-9]{32,}$`)
)

// maskArgs replaces tokens and join strings with ***, so the log never holds one.
func maskArgs(args []string) []string {
	out := make([]string, len(args))
	secretNext := false
	for i, a := range args {
		switch {
		case secretNext:
			out[i] = "***"
			secretNext = false
		case a == "--token" || a == "-t" && i > 0 && args[0] == "add-node":
			out[i] = a
			secretNext = true
		case strings.HasPrefix(a, "--token="):
			out[i] = "--token=***"
		case joinString.MatchString(a), tokenLike.MatchString(a):
			out[i] = "***"
		default:
			out[i] = a
		}
	}
	return out
}

// logLine appends "<RFC3339> <prog> <args...> exit=<code>" to the host's log.
func (h *Host) logLine(prog string, args []string, code int) {
	h.logText(fmt.Sprintf("%s %s exit=%d", prog, strings.Join(append([]string(nil), maskArgs(args)...), " "), code))
}

// logText appends one line (the agent's events); callers never pass a secret.
func (h *Host) logText(text string) {
	p := h.path(LogPath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	line := h.now().UTC().Format("2006-01-02T15:04:05Z07:00") + " " + strings.ReplaceAll(text, "\n", " ") + "\n"
	_, _ = f.WriteString(line)
}
