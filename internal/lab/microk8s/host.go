package microk8s

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Paths the lab provides on a host, relative to the host's root.
const (
	// LabDir holds what the lab drops on a host for the fake.
	LabDir = "/var/lib/homelab-lab"
	// CredentialsDir holds ca.crt, client.crt and client.key (PEM): the lab API
	// server's CA and an admin client certificate. `microk8s config` hands them out
	// when ca.crt is there; otherwise the host's own cluster CA signs an admin
	// certificate (LocalCredentials).
	CredentialsDir = LabDir + "/kube"
	// KubectlPath is the kubectl `microk8s kubectl` runs.
	KubectlPath = LabDir + "/bin/kubectl"
	// LogPath is the log every fake command appends one line to.
	LogPath = "/var/log/homelab-lab/microk8s.log"
	// AgentUnit is the systemd unit `snap install` writes and enables.
	AgentUnit = "snap.microk8s.daemon-cluster-agent.service"
)

// Env names the binary reads. RootEnv exists for the package's own tests (a
// host under a temporary directory); on a lab host neither is set.
const (
	RootEnv = "HOMELAB_FAKE_ROOT"
	IPEnv   = "HOMELAB_FAKE_IP"
)

// Runner runs a host command (systemctl). Tests fake it.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) (string, error)
}

// ExecRunner runs commands for real; out is stdout and stderr combined.
type ExecRunner struct{}

// Run implements Runner.
func (ExecRunner) Run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// Host is one fake microk8s machine: everything lives under Root.
type Host struct {
	// Root is "/" on a lab host, a temporary directory in tests.
	Root string
	// Hostname; empty means Root/etc/hostname, then os.Hostname.
	Hostname string
	// IP is the default interface's address; invalid means discover it.
	IP netip.Addr
	// IPs are all the host's addresses (add-node lists them); nil means [IP].
	IPs []netip.Addr
	// AgentListen overrides the agent's --bind (tests bind each host's own IP).
	AgentListen string
	// Runner runs systemctl; nil means ExecRunner.
	Runner Runner
	// Credentials for `microk8s config`; nil means FileCredentials when
	// CredentialsDir/ca.crt exists, else LocalCredentials.
	Credentials Credentials
	// Kube applies addons' Kubernetes objects; nil means nothing is applied.
	Kube Kube
	// Kubectl is the kubectl to run; empty means Root+KubectlPath.
	Kubectl string
	// PollInterval is how often `status --wait-ready` looks (2 s when zero).
	PollInterval time.Duration
	// LauncherInterval is how often the agent looks into etc/launcher (5 s when zero).
	LauncherInterval time.Duration
	// SyncInterval is how often the agent exchanges the cluster document with its
	// peers (3 s when zero).
	SyncInterval time.Duration
	// PeerTimeout bounds each call to a peer's agent (2 s when zero).
	PeerTimeout time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// HostFromEnv is the host the binary runs on.
func HostFromEnv() *Host {
	h := &Host{Root: os.Getenv(RootEnv)}
	if h.Root == "" {
		h.Root = "/"
	}
	if s := os.Getenv(IPEnv); s != "" {
		if ip, err := netip.ParseAddr(s); err == nil {
			h.IP = ip
		}
	}
	return h
}

// IO is one invocation's standard streams.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

// path maps an absolute host path under Root.
func (h *Host) path(p string) string { return filepath.Join(h.Root, p) }

const (
	snapDataRel   = "/var/snap/microk8s/current"
	snapCommonRel = "/var/snap/microk8s/common"
	snapRel       = "/snap/microk8s/current"
)

func (h *Host) snapData(elem ...string) string {
	return filepath.Join(append([]string{h.path(snapDataRel)}, elem...)...)
}

func (h *Host) snapCommon(elem ...string) string {
	return filepath.Join(append([]string{h.path(snapCommonRel)}, elem...)...)
}

func (h *Host) lock(name string) string { return h.snapData("var", "lock", name) }

func (h *Host) backend(elem ...string) string {
	return filepath.Join(append([]string{h.snapData("var", "kubernetes", "backend")}, elem...)...)
}

func (h *Host) runner() Runner {
	if h.Runner == nil {
		return ExecRunner{}
	}
	return h.Runner
}

func (h *Host) kube() Kube {
	if h.Kube == nil {
		return NopKube{}
	}
	return h.Kube
}

func (h *Host) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (h *Host) hostname() string {
	if h.Hostname != "" {
		return strings.ToLower(h.Hostname)
	}
	if b, err := os.ReadFile(h.path("/etc/hostname")); err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return strings.ToLower(s)
		}
	}
	n, _ := os.Hostname()
	return strings.ToLower(n)
}

// defaultIP is the address of the default route's interface, as microk8s'
// get_default_ip finds it.
func (h *Host) defaultIP() netip.Addr {
	if h.IP.IsValid() {
		return h.IP
	}
	if ip, ok := routeIP(); ok {
		return ip
	}
	if c, err := net.Dial("udp4", "192.0.2.1:9"); err == nil {
		defer c.Close()
		if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
				return ip
			}
		}
	}
	return netip.MustParseAddr("127.0.0.1")
}

// routeIP reads /proc/net/route for the default route's interface.
func routeIP() (netip.Addr, bool) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return netip.Addr{}, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fs := strings.Fields(s.Text())
		if len(fs) < 2 || fs[1] != "00000000" {
			continue
		}
		ifc, err := net.InterfaceByName(fs[0])
		if err != nil {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP.To4()); ok && n.IP.To4() != nil {
					return ip, true
				}
			}
		}
	}
	return netip.Addr{}, false
}

// allIPs is `hostname -I` without link-local and CNI addresses.
func (h *Host) allIPs() []netip.Addr {
	if h.IPs != nil {
		return h.IPs
	}
	if h.IP.IsValid() {
		return []netip.Addr{h.IP}
	}
	var out []netip.Addr
	ifcs, _ := net.Interfaces()
	for _, ifc := range ifcs {
		switch ifc.Name {
		case "vxlan.calico", "flannel.1", "cni0", "ovn0":
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.To4() == nil {
				continue
			}
			ip, _ := netip.AddrFromSlice(n.IP.To4())
			if ip.IsLoopback() || ip.IsLinkLocalUnicast() {
				continue
			}
			out = append(out, ip)
		}
	}
	if len(out) == 0 {
		out = []netip.Addr{h.defaultIP()}
	}
	return out
}

// hasIP says whether ip is one of the host's addresses.
func (h *Host) hasIP(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	if a == h.defaultIP() {
		return true
	}
	for _, b := range h.allIPs() {
		if a == b {
			return true
		}
	}
	return false
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func touch(p string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

func writeFile(p string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp-fake"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// copyBackup copies p to p.backup when p exists.
func copyBackup(p string) error {
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return writeFile(p+".backup", b, 0o600)
}

func fprintf(w io.Writer, format string, a ...any) { fmt.Fprintf(w, format, a...) }
