package step

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTool writes an executable script named name into dir.
func fakeTool(t *testing.T, dir, name, body string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/usr/bin/env bash\n"+body), 0o755))
}

// runLib runs body behind lib.sh as a step would, with the fake tools in bin
// first on PATH and the markers under dir/steps.
func runLib(t *testing.T, dir, bin, body string) (stdout, stderr string, err error) {
	t.Helper()
	s := NewScript("demo", "marker_dir="+dir+"/steps\n"+body)
	cmd := exec.Command("bash", "-c", s.Text(3), "homelab-demo")
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "FAKE_DIR="+dir)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// fakeAptGet is an apt-get that logs its environment and arguments, fails
// with apt's lock message as long as $FAKE_DIR/locked holds a positive count
// (one less each call), and fails with another error when $FAKE_DIR/broken exists.
const fakeAptGet = `echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >>"$FAKE_DIR/apt.log"
n=$(cat "$FAKE_DIR/locked" 2>/dev/null || echo 0)
if ((n > 0)); then
  echo $((n - 1)) >"$FAKE_DIR/locked"
  echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 812 (apt-get)" >&2
  echo "E: Unable to lock directory /var/lib/apt/lists/" >&2
  exit 100
fi
if [[ -f $FAKE_DIR/broken ]]; then
  echo "E: Unable to locate package nosuch" >&2
  exit 100
fi
echo "apt ran"
`

// apt-get fails at once while unattended-upgrades holds a lock (first minutes
// after a fresh Ubuntu boots); apt_get waits for the dpkg lock and retries on
// the lists lock, which DPkg::Lock::Timeout does not cover, within one bound.
func TestAptGetWaitsForTheLocks(t *testing.T) {
	dir, bin := t.TempDir(), t.TempDir()
	fakeTool(t, bin, "apt-get", fakeAptGet)
	log := func() []string {
		b, _ := os.ReadFile(filepath.Join(dir, "apt.log"))
		require.NoError(t, os.Remove(filepath.Join(dir, "apt.log")))
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	assert.Contains(t, lib, "\napt_lock_timeout=600\n", "ten minutes for unattended-upgrades to finish")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "locked"), []byte("2\n"), 0o644))
	out, errOut, err := runLib(t, dir, bin, "apt_lock_poll=0\napt_get update -qq\nfinish\n")
	require.NoError(t, err, errOut)
	assert.Equal(t, "apt ran\nunchanged\n", out, "apt-get's stdout passes through")
	assert.Empty(t, errOut, "the lock errors of the retried runs are not shown")
	calls := log()
	require.Len(t, calls, 3, "retried while the lists lock was held")
	for _, c := range calls {
		assert.Regexp(t, `^DEBIAN_FRONTEND=noninteractive -o DPkg::Lock::Timeout=(600|599) update -qq$`, c)
	}

	// the wait is bounded: past the deadline the lock error is the step's error
	require.NoError(t, os.WriteFile(filepath.Join(dir, "locked"), []byte("5\n"), 0o644))
	_, errOut, err = runLib(t, dir, bin, "apt_lock_timeout=0\napt_get update -qq\nfinish\n")
	require.Error(t, err)
	assert.Contains(t, errOut, "Could not get lock /var/lib/apt/lists/lock")
	assert.Len(t, log(), 1)

	// any other failure is not retried
	require.NoError(t, os.WriteFile(filepath.Join(dir, "locked"), []byte("0\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken"), nil, 0o644))
	_, errOut, err = runLib(t, dir, bin, "apt_lock_poll=0\napt_get install -y nosuch\nfinish\n")
	require.Error(t, err)
	assert.Contains(t, errOut, "Unable to locate package nosuch")
	assert.Len(t, log(), 1)
}

// fakeDpkgQuery reports installed exactly the packages listed in $FAKE_DIR/installed.
const fakeDpkgQuery = `p=${*: -1}
if grep -qx "$p" "$FAKE_DIR/installed" 2>/dev/null; then echo "install ok installed"; exit 0; fi
echo "dpkg-query: no packages found matching $p" >&2
exit 1
`

// fakeSystemctl says is-enabled for the units listed in $FAKE_DIR/enabled.
const fakeSystemctl = `[[ $1 == is-enabled ]] || exit 1
grep -qx "${*: -1}" "$FAKE_DIR/enabled" 2>/dev/null
`

func TestMarkRecordsWhatTheStepOwns(t *testing.T) {
	dir, bin := t.TempDir(), t.TempDir()
	fakeTool(t, bin, "dpkg-query", fakeDpkgQuery)
	fakeTool(t, bin, "systemctl", fakeSystemctl)
	conf := filepath.Join(dir, "app.conf")
	hosts := filepath.Join(dir, "hosts")
	require.NoError(t, os.WriteFile(conf, []byte("a=1\n"), 0o644))
	require.NoError(t, os.WriteFile(hosts, []byte("127.0.0.1 localhost\n# BEGIN homelab (managed)\n10.0.0.21 node1\n# END homelab\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "installed"), []byte("curl\ngnupg\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "enabled"), []byte("fstrim.timer\n"), 0o644))
	marker := func() string {
		b, err := os.ReadFile(filepath.Join(dir, "steps", "demo"))
		require.NoError(t, err)
		return string(b)
	}

	// backward compatible: a step that owns only files gets the marker it always had
	_, errOut, err := runLib(t, dir, bin, "mark applied "+conf+"\nfinish\n")
	require.NoError(t, err, errOut)
	lines := strings.Split(strings.TrimSpace(marker()), "\n")
	require.Len(t, lines, 5)
	assert.Equal(t, []string{"state=applied", "hash=" + NewScript("demo", "marker_dir="+dir+"/steps\nmark applied "+conf+"\nfinish\n").Hash, "redo=3"}, lines[:3])
	assert.Regexp(t, `^sum=[0-9a-f]{64}$`, lines[3])
	assert.Equal(t, "files="+conf, lines[4])

	_, errOut, err = runLib(t, dir, bin, "mark applied --packages 'curl gnupg' --block "+hosts+" '# BEGIN homelab' '# END homelab' --unit fstrim.timer "+conf+"\nfinish\n")
	require.NoError(t, err, errOut)
	m := marker()
	assert.Contains(t, m, "\nfiles="+conf+"\npackages=curl gnupg\nblock="+hosts+"\t# BEGIN homelab\t# END homelab\t")
	assert.Regexp(t, "\nblock=[^\n]*\t[0-9a-f]{64}\n", m)
	assert.True(t, strings.HasSuffix(m, "\nunit=fstrim.timer\n"), m)

	// what cannot hold right after the step ran fails the step, rather than a
	// marker that would re-run it on every up
	for body, msg := range map[string]string{
		"mark applied --packages 'curl awk' " + conf:                               "package awk is not installed",
		"mark applied --block " + hosts + " '# BEGIN other' '# END other' " + conf: "no block '# BEGIN other'",
		"mark applied --unit nosuch.timer " + conf:                                 "unit nosuch.timer is not enabled",
	} {
		_, errOut, err = runLib(t, dir, bin, body+"\nfinish\n")
		assert.Error(t, err, body)
		assert.Contains(t, errOut, msg)
	}
}
