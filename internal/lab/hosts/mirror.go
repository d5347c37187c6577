package hosts

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// MirrorEnv overrides the apt mirror the image is bootstrapped from.
const MirrorEnv = "HOMELAB_LAB_MIRROR"

// aptSource is one apt source entry, from either file format.
type aptSource struct {
	types  []string
	uris   []string
	suites []string
}

// parseDeb822 reads a deb822 .sources file: stanzas separated by blank lines.
func parseDeb822(text string) []aptSource {
	var out []aptSource
	var cur aptSource
	disabled := false
	flush := func() {
		if len(cur.uris) > 0 && !disabled {
			out = append(out, cur)
		}
		cur, disabled = aptSource{}, false
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			continue // comments and continuation lines (Signed-By blocks)
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "types":
			cur.types = fields
		case "uris":
			cur.uris = fields
		case "suites":
			cur.suites = fields
		case "enabled":
			disabled = strings.EqualFold(strings.TrimSpace(value), "no")
		}
	}
	flush()
	return out
}

// parseOneLine reads a one-line-style sources.list: "deb [options] uri suite components".
func parseOneLine(text string) []aptSource {
	var out []aptSource
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		typ := f[0]
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) < 2 {
			continue
		}
		out = append(out, aptSource{types: []string{typ}, uris: []string{f[0]}, suites: []string{f[1]}})
	}
	return out
}

// pickMirror returns the first deb URI that serves suite itself (not suite-updates or
// suite-security), over http(s) or file.
func pickMirror(sources []aptSource, suite string) (string, bool) {
	for _, s := range sources {
		if !slices.Contains(s.types, "deb") || !slices.Contains(s.suites, suite) {
			continue
		}
		for _, u := range s.uris {
			if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "file:") {
				return u, true
			}
		}
	}
	return "", false
}

// Mirror returns the apt mirror for suite: $HOMELAB_LAB_MIRROR, or the one the machine's
// own apt sources use under etcDir (normally /etc/apt), so no mirror name lives in code.
func Mirror(etcDir, suite string) (string, error) {
	if m := os.Getenv(MirrorEnv); m != "" {
		return m, nil
	}
	var sources []aptSource
	if b, err := os.ReadFile(filepath.Join(etcDir, "sources.list")); err == nil {
		sources = append(sources, parseOneLine(string(b))...)
	}
	files, _ := filepath.Glob(filepath.Join(etcDir, "sources.list.d", "*"))
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		switch {
		case strings.HasSuffix(f, ".sources"):
			sources = append(sources, parseDeb822(string(b))...)
		case strings.HasSuffix(f, ".list"):
			sources = append(sources, parseOneLine(string(b))...)
		}
	}
	if m, ok := pickMirror(sources, suite); ok {
		return m, nil
	}
	return "", fmt.Errorf("no apt source under %s serves %q; set %s to a Debian mirror URL", etcDir, suite, MirrorEnv)
}
