package microk8s

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// fakeSystemd stands in for systemctl: it records calls and starts and stops
// the host's in-process agent as systemd would start and stop its unit.
type fakeSystemd struct {
	mu     sync.Mutex
	calls  []string
	iscsid string // `systemctl is-enabled iscsid` output
	th     *testHost
}

func (f *fakeSystemd) Run(_ context.Context, name string, args ...string) (string, error) {
	f.mu.Lock()
	f.calls = append(f.calls, name+" "+strings.Join(args, " "))
	f.mu.Unlock()
	if name != "systemctl" || len(args) == 0 {
		return "", nil
	}
	switch {
	case args[0] == "is-enabled" && len(args) > 1 && args[1] == "iscsid":
		if f.iscsid == "" {
			return "Failed to get unit file state for iscsid.service: No such file or directory\n", errExit
		}
		return f.iscsid + "\n", nil
	case args[0] == "enable" && contains(args, "--now"), args[0] == "start", args[0] == "restart":
		if args[0] == "restart" {
			f.th.stopAgent()
		}
		f.th.startAgent()
	case args[0] == "stop", args[0] == "disable" && contains(args, "--now"):
		f.th.stopAgent()
	}
	return "", nil
}

func (f *fakeSystemd) called(s string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c == s {
			return true
		}
	}
	return false
}

type exitErr struct{}

func (exitErr) Error() string { return "exit status 1" }

var errExit = exitErr{}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

type testHost struct {
	t     *testing.T
	h     *Host
	sd    *fakeSystemd
	mu    sync.Mutex
	agent *Agent
}

// newHost is a fake host under a temporary root whose agent listens on ip:25000.
func newHost(t *testing.T, ip string) *testHost {
	t.Helper()
	a := netip.MustParseAddr(ip)
	th := &testHost{t: t}
	th.sd = &fakeSystemd{th: th}
	th.h = &Host{
		Root:             t.TempDir(),
		Hostname:         "node-" + strings.ReplaceAll(ip, ".", "-"),
		IP:               a,
		IPs:              []netip.Addr{a},
		AgentListen:      ip + ":25000",
		Runner:           th.sd,
		PollInterval:     20 * time.Millisecond,
		LauncherInterval: time.Hour,
		SyncInterval:     time.Hour,
		PeerTimeout:      time.Second,
	}
	t.Cleanup(th.stopAgent)
	return th
}

func (th *testHost) startAgent() {
	th.mu.Lock()
	defer th.mu.Unlock()
	if th.agent != nil {
		return
	}
	a, err := th.h.StartAgent(context.Background())
	if err != nil {
		th.t.Fatalf("starting the agent of %s: %v", th.h.IP, err)
	}
	th.agent = a
}

func (th *testHost) stopAgent() {
	th.mu.Lock()
	defer th.mu.Unlock()
	if th.agent != nil {
		_ = th.agent.Close()
		th.agent = nil
	}
}

type result struct {
	code     int
	out, err string
}

// run runs "snap ..." or "microk8s ..." on the host.
func (th *testHost) run(cmdline string, stdin ...string) result {
	th.t.Helper()
	f := strings.Fields(cmdline)
	var out, errb bytes.Buffer
	in := IO{In: strings.NewReader(strings.Join(stdin, "")), Out: &out, Err: &errb}
	var code int
	switch f[0] {
	case "snap":
		code = th.h.Snap(context.Background(), in, f[1:])
	case "microk8s":
		code = th.h.Microk8s(context.Background(), in, f[1:])
	default:
		th.t.Fatalf("unknown program in %q", cmdline)
	}
	return result{code, out.String(), errb.String()}
}

// must runs cmdline and fails the test unless it exits 0.
func (th *testHost) must(cmdline string) result {
	th.t.Helper()
	r := th.run(cmdline)
	if r.code != 0 {
		th.t.Fatalf("%s on %s: exit %d\nstdout: %s\nstderr: %s", cmdline, th.h.IP, r.code, r.out, r.err)
	}
	return r
}

func (th *testHost) install() {
	th.t.Helper()
	th.must("snap install microk8s --classic --channel=1.30/stable")
}

func (th *testHost) file(rel string) string {
	th.t.Helper()
	b, err := os.ReadFile(filepath.Join(th.h.Root, rel))
	if err != nil {
		th.t.Fatalf("reading %s on %s: %v", rel, th.h.IP, err)
	}
	return string(b)
}

func (th *testHost) exists(rel string) bool { return exists(filepath.Join(th.h.Root, rel)) }

func (th *testHost) state() *State {
	th.t.Helper()
	st, err := th.h.loadState()
	if err != nil {
		th.t.Fatal(err)
	}
	return st
}

var joinLine = regexp.MustCompile(`(?m)^microk8s join (\S+)$`)

// addNode runs add-node with extra args and returns the join string.
func (th *testHost) addNode(args string) string {
	th.t.Helper()
	r := th.must(strings.TrimSpace("microk8s add-node " + args))
	m := joinLine.FindStringSubmatch(r.out)
	if m == nil {
		th.t.Fatalf("no join line in add-node output:\n%s", r.out)
	}
	return m[1]
}

// statusYAML is `status --format yaml` parsed back.
type statusYAML struct {
	Microk8s struct {
		Running bool `yaml:"running"`
	} `yaml:"microk8s"`
	HA struct {
		Enabled bool `yaml:"enabled"`
		Nodes   []struct {
			Address string `yaml:"address"`
			Role    string `yaml:"role"`
		} `yaml:"nodes"`
	} `yaml:"high-availability"`
	Addons []struct {
		Name        string `yaml:"name"`
		Repository  string `yaml:"repository"`
		Description string `yaml:"description"`
		Version     string `yaml:"version"`
		Status      string `yaml:"status"`
	} `yaml:"addons"`
}

func (th *testHost) statusYAML() statusYAML {
	th.t.Helper()
	r := th.run("microk8s status --format yaml")
	var s statusYAML
	if err := yaml.Unmarshal([]byte(r.out), &s); err != nil {
		th.t.Fatalf("parsing status yaml: %v\n%s", err, r.out)
	}
	return s
}

func (s statusYAML) addon(name string) string {
	for _, a := range s.Addons {
		if a.Name == name {
			return a.Status
		}
	}
	return ""
}

func (s statusYAML) roles() map[string]string {
	m := map[string]string{}
	for _, n := range s.HA.Nodes {
		m[n.Address] = n.Role
	}
	return m
}

const tokenA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// formCluster installs hosts and joins them all to the first, one at a time.
func formCluster(t *testing.T, ips ...string) []*testHost {
	t.Helper()
	hs := make([]*testHost, len(ips))
	for i, ip := range ips {
		hs[i] = newHost(t, ip)
		hs[i].install()
	}
	for _, j := range hs[1:] {
		js := hs[0].addNode("")
		j.must("microk8s join " + js)
	}
	return hs
}
