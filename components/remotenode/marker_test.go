package remotenode

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/homeslice/homelab/internal/step"
)

// testBase is base as a node with two hosts entries and an extra package renders it.
func testBase() step.Script {
	return baseScript("node1", []HostEntry{{IP: "10.0.0.21", Name: "node1"}, {IP: "10.0.0.22", Name: "node2"}},
		Journald{Storage: "volatile", SystemMaxUse: "64M"}, append(BasePackages, "htop"))
}

// markArgs evaluates the arguments of a step's mark call: the body's plain
// assignments, then the call with mark printing its arguments one per line.
// The conditional units are taken as the host has the TRIM timer.
func markArgs(t *testing.T, body string) []string {
	t.Helper()
	var prog []string
	lines := strings.Split(body, "\n")
	assign := regexp.MustCompile(`^(hosts_begin|hosts_end|journald_conf|wanted)=`)
	for i := 0; i < len(lines); i++ {
		switch l := lines[i]; {
		case assign.MatchString(l):
			prog = append(prog, l)
		case strings.HasPrefix(l, "  units=("):
			prog = append(prog, strings.TrimSpace(l))
		case strings.HasPrefix(l, "mark "):
			call := l
			for strings.HasSuffix(call, `\`) && i+1 < len(lines) {
				i++
				call = strings.TrimSuffix(call, `\`) + " " + strings.TrimSpace(lines[i])
			}
			prog = append(prog, call)
		}
	}
	script := "set -eu\nmark() { printf '%s\\n' \"$@\"; }\n" + strings.Join(prog, "\n") + "\n"
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	require.NoError(t, err, "%s\n%s", script, out)
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// base's marker owns all it applies: a removed /etc/hosts block or package is
// drift too, not only /etc/hostname and the journald drop-in.
func TestBaseMarksEverythingItOwns(t *testing.T) {
	got := markArgs(t, testBase().Body)
	assert.Equal(t, []string{
		"applied",
		"--packages", "ca-certificates curl gnupg htop",
		"--block", "/etc/hosts", "# BEGIN homelab", "# END homelab",
		"--unit", "fstrim.timer",
		"/etc/hostname", "/etc/systemd/journald.conf.d/60-homelab.conf",
	}, got)
	assert.Equal(t, 1, strings.Count(testBase().Body, "\nmark "), "one marker call, at the end")
}

// hostsBlock is the block base writes into /etc/hosts.
func hostsBlock(t *testing.T, body string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, "cat <<'HOMELAB_HOSTS'\n")
	require.True(t, ok)
	block, _, ok := strings.Cut(rest, "\nHOMELAB_HOSTS\n")
	require.True(t, ok)
	return block + "\n"
}

// shellFunc is the definition of a shell function in a script.
func shellFunc(t *testing.T, script, name string) string {
	t.Helper()
	i := strings.Index(script, "\n"+name+"() {\n")
	require.GreaterOrEqual(t, i, 0, "%s() is defined", name)
	end := strings.Index(script[i+1:], "\n}\n")
	require.GreaterOrEqual(t, end, 0)
	return script[i+1 : i+1+end+3]
}

// The probe checks a marker with the very functions mark recorded it with:
// any difference would show a converged host as drifted on every run.
func TestFactsChecksAsMarkRecords(t *testing.T) {
	lib := step.NewScript("demo", "").Text(0)
	for _, fn := range []string{"block_lines", "block_sum", "pkg_installed"} {
		assert.Equal(t, shellFunc(t, lib, fn), shellFunc(t, factsScript, fn), fn)
	}
}

// drift runs steps' mark (lib.sh) and the facts probe (facts.sh) for real,
// without root: markers under a temp directory, dpkg-query and systemctl faked
// from lists of installed packages and enabled units.
type drift struct {
	t        *testing.T
	dir, bin string
	facts    string
}

func newDrift(t *testing.T) *drift {
	d := &drift{t: t, dir: t.TempDir(), bin: t.TempDir()}
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(d.bin, name), []byte("#!/usr/bin/env bash\n"+body), 0o755))
	}
	write("dpkg-query", `p=${*: -1}
if grep -qx "$p" "$FAKE_DIR/installed" 2>/dev/null; then echo "install ok installed"; exit 0; fi
echo "dpkg-query: no packages found matching $p" >&2
exit 1
`)
	write("systemctl", `[[ $1 == is-enabled ]] || exit 1
grep -qx "${*: -1}" "$FAKE_DIR/enabled" 2>/dev/null
`)
	const markers = "/var/lib/homelab/steps/*"
	require.Equal(t, 1, strings.Count(factsScript, markers), "facts.sh reads the markers in one place")
	d.facts = strings.Replace(factsScript, markers, filepath.Join(d.dir, "steps")+"/*", 1)
	return d
}

func (d *drift) path(name string) string { return filepath.Join(d.dir, name) }

func (d *drift) write(name, content string) {
	require.NoError(d.t, os.WriteFile(d.path(name), []byte(content), 0o644))
}

func (d *drift) bash(script string) string {
	d.t.Helper()
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+d.bin+":"+os.Getenv("PATH"), "FAKE_DIR="+d.dir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(d.t, cmd.Run(), "%s", errOut.String())
	return out.String()
}

// mark runs a step named name whose body is "mark ARGS" (STATE first) behind lib.sh.
func (d *drift) mark(name string, args ...string) {
	d.t.Helper()
	body := "marker_dir=" + d.path("steps") + "\nmark"
	for _, a := range args {
		body += " '" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	d.bash(step.NewScript(name, body+"\nfinish\n").Text(0))
}

// intact is what the probe says of each marker.
func (d *drift) intact() map[string]bool {
	d.t.Helper()
	var f struct {
		Markers map[string]step.Marker `json:"markers"`
	}
	out := d.bash(d.facts)
	require.NoError(d.t, json.Unmarshal([]byte(out), &f), out)
	got := map[string]bool{}
	for k, m := range f.Markers {
		got[k] = m.Intact
	}
	return got
}

func TestMarkerShowsDriftOfEverythingAStepOwns(t *testing.T) {
	d := newDrift(t)
	base := testBase()
	args := markArgs(t, base.Body)
	// base's own mark call, with its files and /etc/hosts moved into the temp dir
	for i, a := range args {
		if strings.HasPrefix(a, "/etc/") {
			args[i] = d.path(filepath.Base(a))
		}
	}
	hosts := "127.0.0.1 localhost\n::1 localhost ip6-localhost\n" + hostsBlock(t, base.Body)
	d.write("hosts", hosts)
	d.write("hostname", "node1\n")
	d.write("60-homelab.conf", "[Journal]\nStorage=volatile\n")
	d.write("installed", "ca-certificates\ncurl\ngnupg\nhtop\n")
	d.write("enabled", "fstrim.timer\n")
	d.mark(StepBase, args...)
	// a step that only passes files, as static-ip does
	d.write("60-homelab.yaml", "network: {}\n")
	d.mark("files-only", "applied", d.path("60-homelab.yaml"))
	// a step that owns packages and nothing else
	d.mark("packages-only", "applied", "--packages", "curl")

	want := map[string]bool{StepBase: true, "files-only": true, "packages-only": true}
	require.Equal(t, want, d.intact(), "invariant 8: every marker is intact right after its step ran")

	// other tools' edits of /etc/hosts outside the block are theirs
	d.write("hosts", "127.0.1.1 debian\n"+hosts+"192.168.1.5 printer\n")
	assert.True(t, d.intact()[StepBase], "an edit outside the managed block is not drift")

	for what, undo := range map[string]func(){
		"the /etc/hosts block removed": func() { d.write("hosts", "127.0.0.1 localhost\n") },
		"an entry of the block edited": func() { d.write("hosts", strings.Replace(hosts, "10.0.0.22 node2", "10.0.0.99 node2", 1)) },
		"the block's end removed":      func() { d.write("hosts", strings.Replace(hosts, "# END homelab\n", "", 1)) },
		"/etc/hosts removed":           func() { require.NoError(t, os.Remove(d.path("hosts"))) },
		"a package removed":            func() { d.write("installed", "ca-certificates\ncurl\ngnupg\n") },
		"the TRIM timer disabled":      func() { d.write("enabled", "") },
		"the journald drop-in edited":  func() { d.write("60-homelab.conf", "[Journal]\n") },
		"/etc/hostname removed":        func() { require.NoError(t, os.Remove(d.path("hostname"))) },
	} {
		t.Run(what, func(t *testing.T) {
			undo()
			got := d.intact()
			assert.False(t, got[StepBase], "%s: base is not intact", what)
			assert.True(t, got["files-only"], "other steps stay intact")
			// put it back: intact again
			d.write("hosts", hosts)
			d.write("hostname", "node1\n")
			d.write("60-homelab.conf", "[Journal]\nStorage=volatile\n")
			d.write("installed", "ca-certificates\ncurl\ngnupg\nhtop\n")
			d.write("enabled", "fstrim.timer\n")
			assert.Equal(t, want, d.intact())
		})
	}

	d.write("installed", "ca-certificates\n")
	assert.False(t, d.intact()["packages-only"], "a step owning only packages sees one go")
}
