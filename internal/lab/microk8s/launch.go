package microk8s

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LaunchConfig is microk8s' launch configuration (cluster-agent pkg/k8sinit).
type LaunchConfig struct {
	Version                 string            `yaml:"version"`
	PersistentClusterToken  string            `yaml:"persistentClusterToken"`
	Join                    LaunchJoin        `yaml:"join"`
	Addons                  []LaunchAddon     `yaml:"addons"`
	AddonRepositories       []LaunchRepo      `yaml:"addonRepositories"`
	ExtraSANs               *[]string         `yaml:"extraSANs"`
	ContainerdRegistryConfs map[string]string `yaml:"containerdRegistryConfigs"`
	ExtraConfigFiles        map[string]string `yaml:"extraConfigFiles"`

	ExtraKubeAPIServerArgs          map[string]*string `yaml:"extraKubeAPIServerArgs"`
	ExtraKubeletArgs                map[string]*string `yaml:"extraKubeletArgs"`
	ExtraKubeProxyArgs              map[string]*string `yaml:"extraKubeProxyArgs"`
	ExtraKubeControllerManagerArgs  map[string]*string `yaml:"extraKubeControllerManagerArgs"`
	ExtraKubeSchedulerArgs          map[string]*string `yaml:"extraKubeSchedulerArgs"`
	ExtraKubeliteEnv                map[string]*string `yaml:"extraKubeliteEnv"`
	ExtraContainerdArgs             map[string]*string `yaml:"extraContainerdArgs"`
	ExtraContainerdEnv              map[string]*string `yaml:"extraContainerdEnv"`
	ExtraDqliteArgs                 map[string]*string `yaml:"extraDqliteArgs"`
	ExtraDqliteEnv                  map[string]*string `yaml:"extraDqliteEnv"`
	ExtraMicroK8sClusterAgentArgs   map[string]*string `yaml:"extraMicroK8sClusterAgentArgs"`
	ExtraMicroK8sClusterAgentEnv    map[string]*string `yaml:"extraMicroK8sClusterAgentEnv"`
	ExtraMicroK8sAPIServerProxyArgs map[string]*string `yaml:"extraMicroK8sAPIServerProxyArgs"`
	ExtraMicroK8sAPIServerProxyEnv  map[string]*string `yaml:"extraMicroK8sAPIServerProxyEnv"`
	ExtraEtcdArgs                   map[string]*string `yaml:"extraEtcdArgs"`
	ExtraEtcdEnv                    map[string]*string `yaml:"extraEtcdEnv"`
	ExtraFlanneldArgs               map[string]*string `yaml:"extraFlanneldArgs"`
	ExtraFlanneldEnv                map[string]*string `yaml:"extraFlanneldEnv"`
	ExtraCNIEnv                     map[string]*string `yaml:"extraCNIEnv"`
	ExtraFIPSEnv                    map[string]*string `yaml:"extraFIPSEnv"`
}

// LaunchJoin joins the node to a cluster once the agent runs.
type LaunchJoin struct {
	URL    string `yaml:"url"`
	Worker bool   `yaml:"worker"`
}

// LaunchAddon enables (or with Disable, disables) an addon once the agent runs.
type LaunchAddon struct {
	Name    string   `yaml:"name"`
	Disable bool     `yaml:"disable"`
	Args    []string `yaml:"args"`
}

// LaunchRepo is an addon repository.
type LaunchRepo struct {
	Name      string `yaml:"name"`
	URL       string `yaml:"url"`
	Reference string `yaml:"reference"`
}

// defaultLaunchConfig is the snap's own microk8s.default.yaml, used when no user
// file is found: it is why dns is on after a plain install.
const defaultLaunchConfig = `# Default launch configuration for MicroK8s.
---
version: 0.1.0
extraKubeletArgs:
  --cluster-domain: cluster.local
  --cluster-dns: 10.152.183.10
addons:
  - name: dns
`

var errEmptyConfig = errors.New("empty configuration object")

// parseVersion reads "x.y.z" into a comparable triple.
func parseVersion(v string) ([3]int, error) {
	var out [3]int
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) != 3 {
		return out, fmt.Errorf("illegal version string %q", v)
	}
	for i, p := range parts {
		if i == 2 {
			p, _, _ = strings.Cut(p, "-")
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, fmt.Errorf("illegal version string %q", v)
		}
		out[i] = n
	}
	return out, nil
}

func cmpVersion(a, b [3]int) int { return slices.Compare(a[:], b[:]) }

// parseLaunchPart parses one YAML document, with the cluster-agent's checks.
func parseLaunchPart(doc []byte) (*LaunchConfig, error) {
	c := &LaunchConfig{}
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		// Unknown fields are ignored (the real agent only warns); bad YAML is not.
		c = &LaunchConfig{}
		if err := yaml.Unmarshal(doc, c); err != nil {
			return nil, fmt.Errorf("could not parse configuration: %w", err)
		}
	}
	if isZeroLaunch(c) {
		return nil, errEmptyConfig
	}
	v, err := parseVersion(c.Version)
	switch {
	case err != nil:
		return nil, fmt.Errorf("could not parse config file version %q: %w", c.Version, err)
	case cmpVersion(v, [3]int{0, 2, 0}) > 0:
		return nil, fmt.Errorf("config file version is %v but the maximum version supported is 0.2.0", c.Version)
	case cmpVersion(v, [3]int{0, 1, 0}) < 0:
		return nil, fmt.Errorf("config file version is %v but the minimum version required is 0.1.0", c.Version)
	}
	return c, nil
}

func isZeroLaunch(c *LaunchConfig) bool {
	z := LaunchConfig{}
	b1, _ := yaml.Marshal(c)
	b2, _ := yaml.Marshal(&z)
	return bytes.Equal(b1, b2)
}

// ParseLaunchConfig parses a (multi-document) launch configuration.
func ParseLaunchConfig(b []byte) ([]*LaunchConfig, error) {
	var parts []*LaunchConfig
	for _, doc := range splitYAMLDocs(b) {
		p, err := parseLaunchPart(doc)
		if errors.Is(err, errEmptyConfig) {
			continue
		}
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, nil
}

func splitYAMLDocs(b []byte) [][]byte {
	var docs [][]byte
	var cur []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimRight(line, " \t\r") == "---" {
			docs = append(docs, []byte(strings.Join(cur, "\n")))
			cur = nil
			continue
		}
		cur = append(cur, line)
	}
	return append(docs, []byte(strings.Join(cur, "\n")))
}

// launchSources are where install looks for a launch configuration, first found.
func (h *Host) launchSources() []string {
	return []string{
		h.path("/etc/microk8s.yaml"),
		h.path("/root/snap/microk8s/common/.microk8s.yaml"),
		h.snapCommon(".microk8s.yaml"),
	}
}

// argFiles maps each launch field to its args file and the services it restarts.
func argFiles(c *LaunchConfig) []struct {
	file     string
	restarts []string
	args     map[string]*string
} {
	return []struct {
		file     string
		restarts []string
		args     map[string]*string
	}{
		{"kube-apiserver", []string{"kubelite"}, c.ExtraKubeAPIServerArgs},
		{"kubelet", []string{"kubelite"}, c.ExtraKubeletArgs},
		{"kube-proxy", []string{"kubelite"}, c.ExtraKubeProxyArgs},
		{"kube-controller-manager", []string{"kubelite"}, c.ExtraKubeControllerManagerArgs},
		{"kube-scheduler", []string{"kubelite"}, c.ExtraKubeSchedulerArgs},
		{"kubelite-env", []string{"kubelite"}, c.ExtraKubeliteEnv},
		{"containerd", []string{"containerd"}, c.ExtraContainerdArgs},
		{"containerd-env", []string{"containerd"}, c.ExtraContainerdEnv},
		{"k8s-dqlite", []string{"k8s-dqlite"}, c.ExtraDqliteArgs},
		{"k8s-dqlite-env", []string{"k8s-dqlite"}, c.ExtraDqliteEnv},
		{"cluster-agent", []string{"cluster-agent"}, c.ExtraMicroK8sClusterAgentArgs},
		{"cluster-agent-env", []string{"cluster-agent"}, c.ExtraMicroK8sClusterAgentEnv},
		{"apiserver-proxy", []string{"apiserver-proxy"}, c.ExtraMicroK8sAPIServerProxyArgs},
		{"apiserver-proxy-env", []string{"apiserver-proxy"}, c.ExtraMicroK8sAPIServerProxyEnv},
		{"etcd", []string{"etcd"}, c.ExtraEtcdArgs},
		{"etcd-env", []string{"etcd"}, c.ExtraEtcdEnv},
		{"flanneld", []string{"flanneld"}, c.ExtraFlanneldArgs},
		{"flanneld-env", []string{"flanneld"}, c.ExtraFlanneldEnv},
		{"cni-env", nil, c.ExtraCNIEnv},
		{"fips-env", []string{"kubelite", "k8s-dqlite", "cluster-agent"}, c.ExtraFIPSEnv},
	}
}

// applyLaunch applies parts in order. preInit (the install hook) skips addons,
// repositories and join, which the agent applies once it runs. It returns the
// services whose configuration changed.
func (h *Host) applyLaunch(ctx context.Context, parts []*LaunchConfig, preInit bool) ([]string, error) {
	restart := map[string]bool{}
	for i, c := range parts {
		if err := h.applyLaunchPart(ctx, c, preInit, restart); err != nil {
			return nil, fmt.Errorf("failed to apply config part %d: %w", i, err)
		}
	}
	return slices.Sorted(maps.Keys(restart)), nil
}

func (h *Host) applyLaunchPart(ctx context.Context, c *LaunchConfig, preInit bool, restart map[string]bool) error {
	if !preInit {
		for _, r := range c.AddonRepositories {
			if r.Name == "community" {
				if err := h.addCommunityRepo(); err != nil {
					return fmt.Errorf("failed to reconcile addon repositories: failed to add repository %s: %w", r.Name, err)
				}
			}
		}
		for _, a := range c.Addons {
			verb := "enable"
			if a.Disable {
				verb = "disable"
			}
			code := h.Microk8s(ctx, IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, append([]string{verb, a.Name}, a.Args...))
			if code != 0 {
				return fmt.Errorf("failed to reconcile addons: failed to %s addon %q: exit status %d", verb, a.Name, code)
			}
		}
	}
	if c.PersistentClusterToken != "" {
		if err := appendLine(h.snapData("credentials", "persistent-cluster-tokens.txt"), c.PersistentClusterToken); err != nil {
			return fmt.Errorf("failed to configure persistent token: %w", err)
		}
	}
	for name, content := range c.ExtraConfigFiles {
		if strings.Contains(name, "/") {
			return fmt.Errorf("file name %q must not contain any slashes (possible path-traversal prevented)", name)
		}
		if err := writeFile(h.snapData("args", name), []byte(content), 0o660); err != nil {
			return fmt.Errorf("failed to create extra config file %q: %w", name, err)
		}
	}
	for _, f := range argFiles(c) {
		changed, err := h.updateArgs(f.file, f.args)
		if err != nil {
			return fmt.Errorf("failed to reconcile config file %q: %w", f.file, err)
		}
		if changed {
			for _, s := range f.restarts {
				restart[s] = true
			}
		}
	}
	if c.ExtraSANs != nil {
		if err := h.writeCSRConf(*c.ExtraSANs); err != nil {
			return fmt.Errorf("failed to configure SANs for apiserver: %w", err)
		}
		if !preInit && !exists(h.lock("no-cert-reissue")) {
			// apiservice-kicker re-issues server.crt when the SANs change.
			if err := h.issueServerCert(); err != nil {
				return fmt.Errorf("failed to configure SANs for apiserver: %w", err)
			}
		}
	}
	hostsDir := h.snapData("args", "certs.d")
	for _, reg := range slices.Sorted(maps.Keys(c.ContainerdRegistryConfs)) {
		dir := filepath.Join(hostsDir, reg)
		if !strings.HasPrefix(filepath.Clean(dir), filepath.Clean(hostsDir)+string(filepath.Separator)) {
			return errors.New("failed to reconcile containerd registry configs: failed to update containerd registry configs: invalid registry name, possible path-traversal prevented")
		}
		if err := writeFile(filepath.Join(dir, "hosts.toml"), []byte(c.ContainerdRegistryConfs[reg]), 0o644); err != nil {
			return fmt.Errorf("failed to reconcile containerd registry configs: %w", err)
		}
	}
	if !preInit && c.Join.URL != "" {
		args := []string{"join", c.Join.URL}
		if c.Join.Worker {
			args = append(args, "--worker")
		}
		var out bytes.Buffer
		if code := h.Microk8s(ctx, IO{In: strings.NewReader(""), Out: &out, Err: &out}, args); code != 0 {
			return fmt.Errorf("failed to join cluster: %s", strings.TrimSpace(out.String()))
		}
	}
	return nil
}

// parseArgLine splits "--flag=value" or "--flag value".
func parseArgLine(line string) (string, string) {
	line = strings.TrimSpace(line)
	if k, v, ok := strings.Cut(line, "="); ok && !strings.ContainsAny(k, " \t") {
		return k, v
	}
	if k, v, ok := strings.Cut(line, " "); ok {
		return k, strings.TrimSpace(v)
	}
	return line, ""
}

// serviceArg is the value of flag in args/<service>.
func (h *Host) serviceArg(service, flag string) string {
	b, err := os.ReadFile(h.snapData("args", service))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v := parseArgLine(line); k == flag {
			return v
		}
	}
	return ""
}

// updateArgs sets (non-nil) and deletes (nil) flags in args/<file>, one
// --flag=value per line, as the agent's UpdateServiceArguments does.
func (h *Host) updateArgs(file string, args map[string]*string) (bool, error) {
	if len(args) == 0 {
		return false, nil
	}
	p := h.snapData("args", file)
	old, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		return false, err
	}
	changed := false
	seen := map[string]bool{}
	var lines []string
	for _, line := range strings.Split(string(old), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v := parseArgLine(line)
		seen[k] = true
		nv, set := args[k]
		switch {
		case !set:
			lines = append(lines, line)
		case nv == nil:
			changed = true
		default:
			lines = append(lines, k+"="+*nv)
			changed = changed || v != *nv
		}
	}
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v := args[k]; v != nil && !seen[k] {
			lines = append(lines, k+"="+*v)
			changed = true
		}
	}
	return changed, writeFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o660)
}

func appendLine(p, line string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o660)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(line + "\n")
	return err
}

// writeCSRConf records the extra SANs the way the agent does (csr.conf.template).
func (h *Host) writeCSRConf(sans []string) error {
	var b strings.Builder
	b.WriteString("[ alt_names ]\nDNS.1 = kubernetes\nDNS.2 = kubernetes.default\nDNS.3 = kubernetes.default.svc\nDNS.4 = kubernetes.default.svc.cluster\nDNS.5 = kubernetes.default.svc.cluster.local\nIP.1 = 127.0.0.1\nIP.2 = 10.152.183.1\n")
	dns, ip := 6, 3
	for _, s := range sans {
		if net.ParseIP(s) != nil {
			fmt.Fprintf(&b, "IP.%d = %s\n", ip, s)
			ip++
		} else {
			fmt.Fprintf(&b, "DNS.%d = %s\n", dns, s)
			dns++
		}
	}
	b.WriteString("#MOREIPS\n")
	return writeFile(h.snapData("certs", "csr.conf.template"), []byte(b.String()), 0o660)
}

// extraSANs reads the SANs back from csr.conf.template.
func (h *Host) extraSANs() (ips []net.IP, dns []string) {
	b, _ := os.ReadFile(h.snapData("certs", "csr.conf.template"))
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case strings.HasPrefix(k, "IP."):
			if ip := net.ParseIP(v); ip != nil {
				ips = append(ips, ip)
			}
		case strings.HasPrefix(k, "DNS."):
			dns = append(dns, v)
		}
	}
	return ips, dns
}

// ApplyLauncher applies every *.yaml in $SNAP_COMMON/etc/launcher and renames it
// *.applied, as the cluster agent does every 5 s; a file that fails stays and is
// tried again next time. The agent calls it; tests call it directly.
func (h *Host) ApplyLauncher(ctx context.Context) {
	files, _ := filepath.Glob(h.snapCommon("etc", "launcher", "*.yaml"))
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		parts, err := ParseLaunchConfig(b)
		if err != nil {
			h.logText(fmt.Sprintf("agent launcher %s: failed to parse: %v", filepath.Base(f), err))
			continue
		}
		restart, err := h.applyLaunch(ctx, parts, false)
		if err != nil {
			h.logText(fmt.Sprintf("agent launcher %s: failed to apply: %v", filepath.Base(f), err))
			continue
		}
		for _, s := range restart {
			h.logText("agent restart " + s)
		}
		if err := os.Rename(f, f+".applied"); err != nil {
			continue
		}
		h.logText("agent launcher " + filepath.Base(f) + " applied")
	}
}
