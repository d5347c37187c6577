package stacks

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"golang.org/x/crypto/ssh"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Problem is one thing wrong with the configuration, at a config path such as
// nodes[1].address.
type Problem struct {
	Path string
	Msg  string
}

func (p Problem) String() string { return p.Path + ": " + p.Msg }

// Problems is every problem found in one pass; it is the error a bad stack
// fails with before any resource is declared.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	noun := "problems"
	if len(ps) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(&b, "invalid configuration, nothing was changed (%d %s):", len(ps), noun)
	for _, p := range ps {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Validate checks a decoded, defaulted configuration and returns every
// problem, in config order.
func Validate(c *Config) Problems {
	v := &validator{c: c, ips: map[netip.Addr]string{}}
	v.nodes()
	v.cluster()
	v.system()
	v.registry()
	v.networkController()
	v.devices()
	v.apps()
	v.backups()
	v.secrets()
	return v.probs
}

type validator struct {
	c     *Config
	probs Problems
	// ips records which path first claimed each address, to report duplicates.
	ips map[netip.Addr]string
}

func (v *validator) add(path, format string, args ...any) {
	v.probs = append(v.probs, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// ipv4 parses an IPv4 host address, reporting the problem at path.
func (v *validator) ipv4(path, s string) (netip.Addr, bool) {
	if s == "" {
		v.add(path, "is required: an IPv4 address such as 192.168.1.20")
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		v.add(path, "%q is not an IPv4 address", s)
		return netip.Addr{}, false
	}
	if a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		v.add(path, "%q is not a host address", s)
		return netip.Addr{}, false
	}
	return a, true
}

// claim reports an address already used by another path.
func (v *validator) claim(path string, a netip.Addr) {
	if prev, ok := v.ips[a]; ok {
		v.add(path, "%s is already used by %s", a, prev)
		return
	}
	v.ips[a] = path
}

func (v *validator) label(path, s, what string) bool {
	if s == "" {
		v.add(path, "is required: %s", what)
		return false
	}
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		v.add(path, "%q is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)", s)
		return false
	}
	return true
}

func (v *validator) cron(path, s string) {
	if _, err := cron.ParseStandard(s); err != nil {
		v.add(path, "%q is not a cron schedule (5 fields: minute hour day-of-month month day-of-week, or @daily/@hourly/…): %v", s, err)
	}
}

func (v *validator) port(path string, p int, allowZero bool) {
	if allowZero && p == 0 {
		return
	}
	if p < 1 || p > 65535 {
		v.add(path, "%d is not a port (1-65535)", p)
	}
}

func (v *validator) absPath(p, s string) {
	if s == "" {
		v.add(p, "is required: an absolute path")
		return
	}
	if !path.IsAbs(s) || path.Clean(s) != s {
		v.add(p, "%q is not a clean absolute path", s)
	}
}

// subnets holds each node's static prefix, for "is it inside a node's subnet".
func (v *validator) nodeSubnet(n *Node) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(n.StaticAddress)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, false
	}
	return p, true
}

func (v *validator) nodes() {
	c := v.c
	if len(c.Nodes) == 0 {
		v.add("nodes", "is required: at least one node")
		return
	}
	names := map[string]int{}
	installs := map[netip.Addr]int{}
	pins := map[string]int{}
	others := v.otherAddresses()
	for i := range c.Nodes {
		n := &c.Nodes[i]
		p := fmt.Sprintf("nodes[%d]", i)
		if v.label(p+".name", n.Name, "the node's name, a DNS-1123 label") {
			if j, dup := names[n.Name]; dup {
				v.add(p+".name", "%q is already the name of nodes[%d]", n.Name, j)
			} else {
				names[n.Name] = i
			}
		}
		if a, ok := v.ipv4(p+".address", n.Address); ok {
			if j, dup := installs[a]; dup {
				v.add(p+".address", "%s is already the address of nodes[%d]", a, j)
			} else {
				installs[a] = i
			}
			// A node's install-time address may be its own static address (once
			// the lease is gone); anyone else's, and the probe reaches another host.
			if other, used := others[a]; used && other != p+".staticAddress" && !strings.HasSuffix(other, "].address") {
				v.add(p+".address", "%s is already used by %s", a, other)
			}
		}
		v.port(p+".port", n.Port, false)
		if n.User == "" {
			v.add(p+".user", "is required: the SSH user (with passwordless sudo)")
		} else if !regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`).MatchString(n.User) {
			v.add(p+".user", "%q is not a user name", n.User)
		}
		if key, ok := v.hostKey(p+".hostKey", n.HostKey); ok {
			if j, dup := pins[string(key.Marshal())]; dup {
				v.add(p+".hostKey", "is already the pinned key of nodes[%d]: two hosts with one key are clones (on one of them: rm /etc/ssh/ssh_host_* && ssh-keygen -A, then pin its new key) or the pin was set on the wrong node", j)
			} else {
				pins[string(key.Marshal())] = i
			}
		}

		var prefix netip.Prefix
		okPrefix := false
		if n.StaticAddress == "" {
			v.add(p+".staticAddress", "is required: the static address in CIDR form, such as 192.168.1.21/24")
		} else if pr, err := netip.ParsePrefix(n.StaticAddress); err != nil || !pr.Addr().Is4() {
			v.add(p+".staticAddress", "%q is not an IPv4 address in CIDR form, such as 192.168.1.21/24", n.StaticAddress)
		} else if pr.Bits() < 8 || pr.Bits() > 30 {
			v.add(p+".staticAddress", "prefix length /%d is outside /8../30", pr.Bits())
		} else if a := pr.Addr(); a == pr.Masked().Addr() || a == broadcast(pr) {
			v.add(p+".staticAddress", "%s is the network or broadcast address of %s", a, pr.Masked())
		} else {
			prefix, okPrefix = pr, true
			v.claim(p+".staticAddress", a)
		}
		if gw, ok := v.ipv4(p+".gateway", n.Gateway); ok && okPrefix {
			other, isNode := others[gw]
			isNode = isNode && strings.HasPrefix(other, "nodes[")
			switch {
			case !prefix.Contains(gw):
				v.add(p+".gateway", "%s is outside the node's subnet %s", gw, prefix.Masked())
			case gw == prefix.Masked().Addr():
				v.add(p+".gateway", "%s is the network address of %s, not a router", gw, prefix.Masked())
			case gw == broadcast(prefix):
				v.add(p+".gateway", "%s is the broadcast address of %s, not a router", gw, prefix.Masked())
			case gw == prefix.Addr():
				v.add(p+".gateway", "%s is the node's own address", gw)
			case gw.String() == n.Address:
				v.add(p+".gateway", "%s is the node's own install-time address (%s.address)", gw, p)
			case isNode:
				v.add(p+".gateway", "%s is %s, another node's address, not a router", gw, other)
			}
		}
		dns := map[netip.Addr]int{}
		for j, d := range n.DNS {
			dp := fmt.Sprintf("%s.dns[%d]", p, j)
			a, ok := v.ipv4(dp, d)
			if !ok {
				continue
			}
			switch k, dup := dns[a]; {
			case a.IsLoopback():
				v.add(dp, "%s is a loopback address: give the upstream DNS servers (the node's own resolver forwards to them, and CoreDNS loops on a loopback one)", a)
			case dup:
				v.add(dp, "%s is already %s.dns[%d]", a, p, k)
			case okPrefix && a == prefix.Addr():
				v.add(dp, "%s is the node's own address, where no DNS server runs: give the upstream DNS servers", a)
			}
			if _, dup := dns[a]; !dup {
				dns[a] = j
			}
		}
		if n.Role != RoleControlPlane && n.Role != RoleWorker {
			v.add(p+".role", "%q is not a role: expected control-plane or worker", n.Role)
		}
	}
}

// otherAddresses maps every address a node's install-time address or gateway
// must not be, read without reporting (each key reports its own problems), to
// its path: the nodes' static and install-time addresses, the devices and the
// network controller.
func (v *validator) otherAddresses() map[netip.Addr]string {
	out := map[netip.Addr]string{}
	put := func(s, path string) {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			if _, taken := out[a]; !taken {
				out[a] = path
			}
		}
	}
	for i, n := range v.c.Nodes {
		if pr, err := netip.ParsePrefix(n.StaticAddress); err == nil {
			put(pr.Addr().String(), fmt.Sprintf("nodes[%d].staticAddress", i))
		}
	}
	if nc := v.c.NetworkController; nc != nil {
		put(nc.Address, "networkController.address")
	}
	for _, name := range sortedMapKeys(v.c.Devices) {
		put(v.c.Devices[name], "devices."+name)
	}
	// Last: an install-time address equal to any of the above is reported
	// under that one's path.
	for i, n := range v.c.Nodes {
		put(n.Address, fmt.Sprintf("nodes[%d].address", i))
	}
	return out
}

func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	n |= host
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// hostKey accepts an empty pin (the run stops later with the line that sets
// it) or an ed25519/ecdsa key in authorized_keys form, which it returns.
func (v *validator) hostKey(p, s string) (ssh.PublicKey, bool) {
	if s == "" {
		return nil, false
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		v.add(p, "is not a public key in authorized_keys form (\"ssh-ed25519 AAAA…\"): %v", err)
		return nil, false
	}
	switch t := key.Type(); {
	case t == ssh.KeyAlgoED25519, strings.HasPrefix(t, "ecdsa-sha2-"):
		return key, true
	case t == ssh.KeyAlgoRSA:
		v.add(p, "is an ssh-rsa key: pulumi-command offers only the pinned key's algorithm and current OpenSSH refuses ssh-rsa signatures, so pin the host's ed25519 key (ssh-keyscan -t ed25519 <host>)")
	default:
		v.add(p, "is a %s key: pin the host's ed25519 or ecdsa key", t)
	}
	return nil, false
}

var channelRe = regexp.MustCompile(`^(latest|[0-9]+\.[0-9]+)(/(stable|candidate|beta|edge))?$`)

func (v *validator) cluster() {
	c := v.c
	if !channelRe.MatchString(c.Cluster.Channel) {
		v.add("cluster.channel", "%q is not a snap channel such as 1.32/stable", c.Cluster.Channel)
	}
	cp := 0
	for _, n := range c.Nodes {
		if n.Role == RoleControlPlane {
			cp++
		}
	}
	if len(c.Nodes) > 0 && cp == 0 {
		v.add("nodes", "no node has role control-plane: at least one is needed")
	}
	if c.Cluster.HA && cp < 3 {
		v.add("cluster.ha", "high availability needs at least 3 control-plane nodes, found %d", cp)
	}
	if c.Cluster.APIServerAddress != "" {
		v.ipv4("cluster.apiServerAddress", c.Cluster.APIServerAddress)
	}
	seen := map[string]bool{}
	for i, a := range c.Cluster.Addons {
		p := fmt.Sprintf("cluster.addons[%d].name", i)
		repo, name, hasRepo := strings.Cut(a.Name, "/")
		if !hasRepo {
			name, repo = repo, ""
		}
		if a.Name == "" || (hasRepo && len(validation.IsDNS1123Label(repo)) > 0) || len(validation.IsDNS1123Label(name)) > 0 {
			v.add(p, "%q is not an addon name such as dns or community/openebs", a.Name)
			continue
		}
		if seen[name] {
			v.add(p, "addon %q is listed twice", name)
		}
		seen[name] = true
	}
}

var (
	packageRe = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	sizeRe    = regexp.MustCompile(`^[1-9][0-9]*[KMG]$`)
)

func (v *validator) system() {
	s := v.c.System
	switch s.Journald.Storage {
	case "volatile", "persistent", "auto":
	default:
		v.add("system.journald.storage", "%q is not volatile, persistent or auto", s.Journald.Storage)
	}
	if !sizeRe.MatchString(s.Journald.SystemMaxUse) {
		v.add("system.journald.systemMaxUse", "%q is not a size such as 64M", s.Journald.SystemMaxUse)
	}
	for i, pkg := range s.ExtraPackages {
		if !packageRe.MatchString(pkg) {
			v.add(fmt.Sprintf("system.extraPackages[%d]", i), "%q is not a package name", pkg)
		}
	}
	if d, err := time.ParseDuration(s.IPConfirmTime); err != nil || d < 20*time.Second || d > 30*time.Minute {
		v.add("system.ipConfirmTime", "%q is not a duration from 20s to 30m", s.IPConfirmTime)
	}
	if s.UpgradeEpoch < 0 {
		v.add("system.upgradeEpoch", "%d is negative", s.UpgradeEpoch)
	}
	for _, name := range sortedMapKeys(s.Hosts) {
		p := "system.hosts." + name
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			v.add(p, "%q is not a host name", name)
		}
		for i, n := range v.c.Nodes {
			if n.Name == name {
				v.add(p, "%q is already the name of nodes[%d]: the managed /etc/hosts block lists every node at its static address", name, i)
			}
		}
		v.ipv4(p, s.Hosts[name])
	}
}

func (v *validator) registry() {
	r := v.c.Registry
	if !r.Enabled {
		return
	}
	q, err := resource.ParseQuantity(r.Size)
	switch {
	case err != nil || !strings.HasSuffix(r.Size, "Gi"):
		v.add("registry.size", "%q is not a size in Gi such as 40Gi", r.Size)
	case q.Cmp(resource.MustParse("20Gi")) < 0:
		v.add("registry.size", "%s is below the registry addon's minimum of 20Gi", r.Size)
	}
	if r.StorageClass != "" {
		if errs := validation.IsDNS1123Subdomain(r.StorageClass); len(errs) > 0 {
			v.add("registry.storageClass", "%q is not a storage class name", r.StorageClass)
		}
	}
}

var versionRe = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

func (v *validator) networkController() {
	nc := v.c.NetworkController
	if nc == nil {
		return
	}
	node := v.c.NodeByName(nc.Node)
	switch {
	case nc.Node == "":
		v.add("networkController.node", "is required: the name of the node that runs the controller")
	case node == nil:
		v.add("networkController.node", "%q names no node; expected one of %s", nc.Node, strings.Join(v.nodeNames(), ", "))
	case node.Down:
		v.add("networkController.node", "%q is marked down: choose a node that is up to run the controller", nc.Node)
	}
	if a, ok := v.ipv4("networkController.address", nc.Address); ok {
		v.claim("networkController.address", a)
		if node != nil {
			if pr, ok := v.nodeSubnet(node); ok && !pr.Contains(a) {
				v.add("networkController.address", "%s is outside %s's subnet %s", a, node.Name, pr.Masked())
			}
		}
	}
	if !versionRe.MatchString(nc.Version) {
		v.add("networkController.version", "%q is not a version such as 9.0.114", nc.Version)
	}
}

func (v *validator) devices() {
	for _, name := range sortedMapKeys(v.c.Devices) {
		p := "devices." + name
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			v.add(p, "%q is not a device name (a DNS-1123 label)", name)
		}
		if a, ok := v.ipv4(p, v.c.Devices[name]); ok {
			v.claim(p, a)
		}
	}
}

// deviceRef matches {{device:NAME}} references, with tolerant spacing so a
// near-miss is reported rather than passed through literally.
var deviceRef = regexp.MustCompile(`\{\{\s*device\s*:\s*([^}]*?)\s*\}\}`)

// DeviceRefs returns the device names referenced in s, in order.
func DeviceRefs(s string) []string {
	var names []string
	for _, m := range deviceRef.FindAllStringSubmatch(s, -1) {
		names = append(names, m[1])
	}
	return names
}

func (v *validator) deviceRefs(p, s string) {
	for _, name := range DeviceRefs(s) {
		if _, ok := v.c.Devices[name]; !ok {
			v.add(p, "refers to unknown device %q; devices has %s", name, orNone(sortedMapKeys(v.c.Devices)))
		}
	}
}

var (
	envNameRe    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	secretNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

func (v *validator) apps() {
	names := map[string]int{}
	for i := range v.c.Apps {
		a := &v.c.Apps[i]
		p := fmt.Sprintf("apps[%d]", i)
		if v.label(p+".name", a.Name, "the app's name, a DNS-1123 label") {
			if j, dup := names[a.Name]; dup {
				v.add(p+".name", "%q is already the name of apps[%d]", a.Name, j)
			} else {
				names[a.Name] = i
			}
			if a.Schedule != "" && len(a.Name) > 52 {
				v.add(p+".name", "%q is longer than the 52 characters a CronJob name allows", a.Name)
			}
		}
		if a.Image == "" {
			v.add(p+".image", "is required: a container image such as registry.localdomain:32000/%s:1.0", a.Name)
		} else if strings.ContainsAny(a.Image, " \t\n") {
			v.add(p+".image", "%q is not an image reference", a.Image)
		}
		v.port(p+".port", a.Port, true)
		for j, arg := range a.Args {
			v.deviceRefs(fmt.Sprintf("%s.args[%d]", p, j), arg)
		}
		for _, k := range sortedMapKeys(a.Env) {
			if !envNameRe.MatchString(k) {
				v.add(p+".env."+k, "%q is not an environment variable name", k)
			}
			v.deviceRefs(p+".env."+k, a.Env[k])
		}
		for j, s := range a.Secrets {
			sp := fmt.Sprintf("%s.secrets[%d]", p, j)
			if !secretNameRe.MatchString(s) {
				v.add(sp, "%q is not a secret name (letters, digits, '.', '_', '-')", s)
				continue
			}
			if _, ok := v.c.Secrets.AppSecrets[a.Name][s]; !ok {
				v.add(sp, "secret %q is missing: set it with pulumi config set --secret --path 'appSecrets.%s.%s' <value>", s, a.Name, s)
			}
		}
		files := map[string]bool{}
		for j, f := range a.ConfigFiles {
			fp := fmt.Sprintf("%s.configFiles[%d]", p, j)
			v.absPath(fp+".path", f.Path)
			if files[f.Path] {
				v.add(fp+".path", "%q is mounted twice", f.Path)
			}
			files[f.Path] = true
			v.deviceRefs(fp+".content", f.Content)
		}
		if a.Ingress != nil {
			if a.Schedule != "" {
				v.add(p+".ingress", "a scheduled app (CronJob) has no Service to route to")
			} else if a.Port == 0 {
				v.add(p+".ingress", "needs the app's port to route to")
			}
			if len(a.Ingress.Paths) == 0 {
				v.add(p+".ingress.paths", "is required: at least one path such as /%s", a.Name)
			}
			for j, ip := range a.Ingress.Paths {
				if !strings.HasPrefix(ip, "/") {
					v.add(fmt.Sprintf("%s.ingress.paths[%d]", p, j), "%q does not start with /", ip)
				}
			}
			for _, k := range sortedMapKeys(a.Ingress.Annotations) {
				if errs := validation.IsQualifiedName(k); len(errs) > 0 {
					v.add(p+".ingress.annotations."+k, "%q is not an annotation key", k)
				}
			}
		}
		if a.Schedule != "" {
			v.cron(p+".schedule", a.Schedule)
		}
		if a.PVC != nil {
			q, err := resource.ParseQuantity(a.PVC.Size)
			if err != nil || q.Sign() <= 0 {
				v.add(p+".pvc.size", "%q is not a storage size such as 1Gi", a.PVC.Size)
			}
			v.absPath(p+".pvc.mountPath", a.PVC.MountPath)
		}
		for _, k := range sortedMapKeys(a.NodeSelector) {
			kp := p + ".nodeSelector." + k
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				v.add(kp, "%q is not a label key", k)
			}
			val := a.NodeSelector[k]
			if errs := validation.IsValidLabelValue(val); len(errs) > 0 {
				v.add(kp, "%q is not a label value", val)
			}
			if k == "kubernetes.io/hostname" && v.c.NodeByName(val) == nil {
				v.add(kp, "%q names no node; expected one of %s", val, strings.Join(v.nodeNames(), ", "))
			}
		}
	}
	for app := range v.c.Secrets.AppSecrets {
		if v.c.AppByName(app) == nil {
			v.add("appSecrets."+app, "names no app in apps")
		}
	}
}

var repoSchemes = []string{"sftp:", "s3:", "rest:", "b2:", "azure:", "gs:", "rclone:", "swift:"}

// nodeDiskPaths are where a path repository would sit on a node's own disk.
var nodeDiskPaths = []string{"/", "/var", "/home", "/root", "/etc", "/usr", "/opt", "/srv", "/tmp"}

func (v *validator) backups() {
	b := v.c.Backups
	if b == nil {
		return
	}
	v.repository(b.Repository)
	if len(b.Sources) == 0 {
		v.add("backups.sources", "is required: at least one source")
	}
	names := map[string]int{}
	for i, s := range b.Sources {
		p := fmt.Sprintf("backups.sources[%d]", i)
		if v.label(p+".name", s.Name, "the source's name, a DNS-1123 label") {
			if j, dup := names[s.Name]; dup {
				v.add(p+".name", "%q is already the name of backups.sources[%d]", s.Name, j)
			} else {
				names[s.Name] = i
			}
		}
		switch s.Kind {
		case SourcePVC:
			if app := v.c.AppByName(s.App); app == nil {
				v.add(p+".app", "%q names no app", s.App)
			} else if app.PVC == nil {
				v.add(p+".app", "app %q has no pvc to back up", s.App)
			}
		case SourcePath:
			if n := v.c.NodeByName(s.Node); n == nil {
				v.add(p+".node", "%q names no node; expected one of %s", s.Node, strings.Join(v.nodeNames(), ", "))
			}
			v.absPath(p+".path", s.Path)
		case SourceController:
			if v.c.NetworkController == nil {
				v.add(p+".kind", "controller needs networkController to be configured")
			}
		case SourceRegistry:
			if !v.c.Registry.Enabled {
				v.add(p+".kind", "registry needs registry.enabled")
			}
		default:
			v.add(p+".kind", "%q is not a source kind: expected path, pvc, controller or registry", s.Kind)
		}
		v.cron(p+".schedule", s.Schedule)
		if _, err := ParseAge(s.MaxAge); err != nil {
			v.add(p+".maxAge", "%q is not a duration such as 36h or 2d", s.MaxAge)
		}
	}
	r := b.Retention
	if r.KeepDaily < 0 || r.KeepWeekly < 0 || r.KeepMonthly < 0 {
		v.add("backups.retention", "keep counts cannot be negative")
	} else if r.KeepDaily+r.KeepWeekly+r.KeepMonthly == 0 {
		v.add("backups.retention", "keeps no snapshot: set at least one of keepDaily, keepWeekly, keepMonthly")
	}
	v.cron("backups.maintenanceSchedule", b.MaintenanceSchedule)
}

// repository checks that the restic repository is off the lab's own disks.
func (v *validator) repository(repo string) {
	const p = "backups.repository"
	if repo == "" {
		v.add(p, "is required: a restic repository off the lab, such as sftp:backup@nas.home.arpa:/srv/restic/homelab")
		return
	}
	if strings.HasPrefix(repo, "/") {
		for _, d := range nodeDiskPaths {
			if path.Clean(repo) == d || (d != "/" && strings.HasPrefix(path.Clean(repo), d+"/")) {
				v.add(p, "%q is on a node's own disk: use the mount point of an NFS share or USB disk (for example /mnt/backup) or a remote repository", repo)
				return
			}
		}
		return
	}
	scheme := ""
	for _, s := range repoSchemes {
		if strings.HasPrefix(repo, s) {
			scheme = s
		}
	}
	if scheme == "" {
		v.add(p, "%q is not a restic repository: expected %s… or an absolute path", repo, strings.Join(repoSchemes, "…, "))
		return
	}
	if scheme == "sftp:" {
		host := strings.TrimPrefix(repo, "sftp:")
		host = strings.TrimPrefix(host, "//")
		if at := strings.LastIndex(host, "@"); at >= 0 {
			host = host[at+1:]
		}
		host, _, _ = strings.Cut(host, ":")
		host, _, _ = strings.Cut(host, "/")
		for _, n := range v.c.Nodes {
			static, _, _ := strings.Cut(n.StaticAddress, "/")
			if host == n.Name || host == n.Address || host == static {
				v.add(p, "%q is on node %s: backups must survive the lab, so keep the repository off its disks", repo, n.Name)
			}
		}
	}
}

// ParseAge parses a freshness limit: a Go duration, or whole days as "<n>d".
func ParseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("invalid days %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q is not positive", s)
	}
	return d, nil
}

func (v *validator) secrets() {
	s := v.c.Secrets
	if s.SSHPrivateKey == "" {
		v.add("sshPrivateKey", "is required: pulumi config set --secret sshPrivateKey < ~/.ssh/homelab_ed25519")
	} else if _, err := ssh.ParsePrivateKey([]byte(s.SSHPrivateKey)); err != nil {
		// The error text of ParsePrivateKey never includes key material.
		v.add("sshPrivateKey", "is not an unencrypted private key in OpenSSH or PEM form: %v", err)
	}
	if v.c.Backups != nil && s.ResticPassword == "" {
		v.add("resticPassword", "is required when backups is set: pulumi config set --secret resticPassword <password>")
	}
}

func (v *validator) nodeNames() []string {
	var names []string
	for _, n := range v.c.Nodes {
		names = append(names, n.Name)
	}
	return names
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
