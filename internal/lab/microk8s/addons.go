package microk8s

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// AddonChange is an addon being enabled or disabled cluster-wide.
type AddonChange struct {
	Repository, Name string
	Enable           bool
	Args             []string
}

// Kube is the hook through which the lab can make an addon's Kubernetes objects
// real (kubectl apply against its API server) and delete a removed node's Node
// object. The fake calls Addon before it records the change; an error fails the
// command (exit 1) and records nothing.
type Kube interface {
	Addon(ctx context.Context, c AddonChange) error
	NodeRemoved(ctx context.Context, name string) error
}

// NopKube applies nothing.
type NopKube struct{}

// Addon implements Kube.
func (NopKube) Addon(context.Context, AddonChange) error { return nil }

// NodeRemoved implements Kube.
func (NopKube) NodeRemoved(context.Context, string) error { return nil }

// addon is one catalog entry. file, when set, is the per-node file whose
// existence is the addon's status (check_status of a path); otherwise the status
// is cluster-wide, in the replicated state under key (repository/name).
type addon struct {
	repo, name, description, version string
	file                             string // relative to the host root, with $SNAP…
	key                              string // cluster-wide state key; aliases share one
}

var coreAddons = []addon{
	{"core", "cert-manager", "Cloud native certificate management", "1.19.1", "", ""},
	{"core", "cis-hardening", "Apply CIS K8s hardening", "1.0.0", "$SNAP_DATA/var/lock/cis-hardening", ""},
	{"core", "community", "The community addons repository", "", "$SNAP_COMMON/addons/community/addons.yaml", ""},
	{"core", "dns", "CoreDNS", "1.13.1", "", ""},
	{"core", "gpu", "Alias to nvidia add-on", "25.10.0", "", "core/nvidia"},
	{"core", "ha-cluster", "Configure high availability on the current node", "0.1.0", "$SNAP_DATA/var/lock/ha-cluster", ""},
	{"core", "helm", "Helm - the package manager for Kubernetes", "3.18.6", "$SNAP/bin/helm", ""},
	{"core", "helm3", "Helm 3 - the package manager for Kubernetes", "3.18.6", "$SNAP/bin/helm", ""},
	{"core", "host-access", "Allow Pods connecting to Host services smoothly", "1.0.0", "$SNAP_DATA/var/lock/host-access-enabled", ""},
	{"core", "hostpath-storage", "Storage class; allocates storage from host directory", "1.5.0", "", ""},
	{"core", "ingress", "Ingress controller for external access", "3.6.2", "", ""},
	{"core", "kube-ovn", "An advanced network fabric for Kubernetes", "1.13.8", "", ""},
	{"core", "mayastor", "OpenEBS MayaStor", "2.0.0-microk8s-1", "", ""},
	{"core", "metallb", "Loadbalancer for your Kubernetes cluster", "0.15.2", "", ""},
	{"core", "metrics-server", "K8s Metrics Server for API access to service metrics", "0.8.0", "", ""},
	{"core", "minio", "MinIO object storage (DEPRECATED). This addon is deprecated and will be completely removed in the upcoming versions", "v7.1.1", "", ""},
	{"core", "nvidia", "NVIDIA hardware (GPU and network) support", "gpu=25.10.0/network=25.7.0/microk8s-1", "", ""},
	{"core", "observability", "A lightweight observability stack for logs, traces and metrics", "77.6.2", "", ""},
	{"core", "prometheus", "Prometheus operator for monitoring and logging", "v0.8.0", "", ""},
	{"core", "rbac", "Role-Based Access Control for authorisation", "", "", ""},
	{"core", "registry", "Private image registry exposed on localhost:32000", "2.8.3", "", ""},
	{"core", "rook-ceph", "Distributed Ceph storage using Rook", "1.18.7", "", ""},
	{"core", "storage", "Alias to hostpath-storage add-on, deprecated", "1.5.0", "", "core/hostpath-storage"},
}

var communityAddons = []addon{
	{"community", "argocd", "Argo CD is a declarative continuous deployment for Kubernetes.", "2.7.2", "", ""},
	{"community", "cilium", "SDN, fast with full network policy", "1.15.2", "", ""},
	{"community", "istio", "Core Istio service mesh services", "1.18.2", "", ""},
	{"community", "keda", "Kubernetes-based Event Driven Autoscaling", "2.12.0", "", ""},
	{"community", "linkerd", "Linkerd is a service mesh for Kubernetes and other frameworks", "2.14.3", "", ""},
	{"community", "multus", "Multus CNI enables attaching multiple network interfaces to pods", "3.9", "", ""},
	{"community", "nfs", "NFS Server Provisioner", "1.4.0", "", ""},
	{"community", "openebs", "OpenEBS is the open-source storage solution for Kubernetes", "2.6.0", "", ""},
	{"community", "traefik", "Traefik Ingress controller (DEPRECATED). Replaced by ingress core addon.", "2.9.6", "", ""},
}

// storageClasses are the classes an enabled addon provides.
var storageClasses = map[string][]string{
	"core/hostpath-storage": {"microk8s-hostpath"},
	"community/openebs":     {"openebs-device", "openebs-hostpath", "openebs-jiva-csi-default"},
	"community/nfs":         {"nfs"},
	"core/mayastor":         {"mayastor"},
}

func (a addon) stateKey() string {
	if a.key != "" {
		return a.key
	}
	return a.repo + "/" + a.name
}

func (h *Host) addonFile(a addon) string {
	p := strings.NewReplacer("$SNAP_DATA", snapDataRel, "$SNAP_COMMON", snapCommonRel, "$SNAP", snapRel).Replace(a.file)
	return h.path(p)
}

// availableAddons are the core addons plus the community ones when that
// repository is enabled on this node, sorted by name.
func (h *Host) availableAddons() []addon {
	all := slices.Clone(coreAddons)
	if exists(h.snapCommon("addons", "community", "addons.yaml")) {
		all = append(all, communityAddons...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].name < all[j].name })
	return all
}

func (h *Host) addonEnabled(a addon, st *State) bool {
	if a.file != "" {
		return exists(h.addonFile(a))
	}
	if st == nil {
		return false
	}
	_, ok := st.Addons[a.stateKey()]
	return ok
}

func (h *Host) addCommunityRepo() error {
	return writeFile(h.snapCommon("addons", "community", "addons.yaml"), []byte("microk8s-addons:\n  description: \"Community addons (homelab lab fake)\"\n"), 0o644)
}

// addonArg is one parsed `enable` argument.
type addonArg struct {
	repo, name string
	args       []string
}

// parseXable is common/utils.py's parse_xable_addon_args: several addon names
// (with inline `:args`), or one addon followed by its flags.
func (in *inv) parseXable(args []string, avail []addon) ([]addonArg, bool) {
	names := map[string]bool{}
	for _, a := range avail {
		names[a.name] = true
		names[a.repo+"/"+a.name] = true
	}
	allNames := true
	given := map[string]bool{}
	for _, a := range args {
		n, _, _ := strings.Cut(a, ":")
		given[n] = true
		if !names[n] {
			allNames = false
		}
	}
	// Python's set(a) < set(b) is a proper subset.
	if allNames && len(given) < len(names) {
		var out []addonArg
		for _, a := range args {
			p, ok := in.parseXableOne(a, avail)
			if !ok {
				return nil, false
			}
			out = append(out, p)
		}
		return out, true
	}
	p, ok := in.parseXableOne(args[0], avail)
	if !ok {
		return nil, false
	}
	if len(p.args) > 0 && len(args) > 1 {
		in.outln("Can't pass string arguments and flag arguments simultaneously!\nEnable or disable addons with only one argument style at a time:\n\n    microk8s enable foo:'bar'\nor\n    microk8s enable foo --bar\n")
		return nil, false
	}
	if len(args) > 1 {
		p.args = args[1:]
	}
	return []addonArg{p}, true
}

func (in *inv) parseXableOne(arg string, avail []addon) (addonArg, bool) {
	parts := strings.Split(arg, ":")
	name, args := parts[0], parts[1:]
	switch rn := strings.Split(name, "/"); len(rn) {
	case 2:
		return addonArg{rn[0], rn[1], args}, true
	case 1:
		var repos []string
		for _, a := range avail {
			if a.name == name {
				repos = append(repos, a.repo)
			}
		}
		switch len(repos) {
		case 0:
			in.errln(fmt.Sprintf("Addon %s was not found in any repository", name))
			for _, c := range communityAddons {
				if c.name == name {
					in.outln("To use the community maintained flavor enable the respective repository:\n\n    microk8s enable community\n")
				}
			}
			return addonArg{}, false
		case 1:
			in.errln(fmt.Sprintf("Infer repository %s for addon %s", repos[0], name))
			return addonArg{repos[0], name, args}, true
		default:
			in.errln(fmt.Sprintf("Addon %s exists in more than repository. Please explicitly specify\nthe repository using any of:\n", name))
			return addonArg{}, false
		}
	default:
		in.outln("Invalid addon name " + name)
		return addonArg{}, false
	}
}

// xable is `microk8s enable|disable ADDON...`.
func (in *inv) xable(action string, args []string) int {
	if len(args) == 0 {
		in.errln(fmt.Sprintf("Usage: microk8s %s [OPTIONS] ADDONS...\nTry 'microk8s %s -h' for help.\n\nError: Missing argument 'ADDONS...'.", action, action))
		return 2
	}
	if exists(in.h.lock("stopped.lock")) {
		in.errln("microk8s is not running, try microk8s start")
		return 1
	}
	if slices.Contains(args, "-h") || slices.Contains(args, "--help") {
		in.outln(fmt.Sprintf("Addon %s does not yet have a help message.\nFor more information about it, visit https://microk8s.io/docs/addons", args[0]))
		return 0
	}
	avail := in.h.availableAddons()
	parsed, ok := in.parseXable(args, avail)
	if !ok {
		return 1
	}
	if len(parsed) > 1 {
		in.outln(fmt.Sprintf("WARNING: Do not enable or disable multiple addons in one command.\n         This form of chained operations on addons will be DEPRECATED in the future.\n         Please, %s one addon at a time: 'microk8s %s <addon>'", action, action))
	}
	for _, p := range parsed {
		code := in.xableOne(action, p, avail)
		if code != 0 {
			return code
		}
	}
	return 0
}

func (in *inv) xableOne(action string, p addonArg, avail []addon) int {
	var a addon
	found := false
	for _, x := range avail {
		if x.repo == p.repo && x.name == p.name {
			a, found = x, true
		}
	}
	if !found {
		in.outln(fmt.Sprintf("Addon %s/%s not found", p.repo, p.name))
		return 0
	}
	st, _ := in.h.loadState()
	if in.h.addonEnabled(a, st) == (action == "enable") {
		in.outln(fmt.Sprintf("Addon %s/%s is already %sd", a.repo, a.name, action))
		return 0
	}
	if ok, why := in.h.ready(in.ctx); !ok {
		in.errln(why)
		return 1
	}
	if action == "enable" {
		return in.enable(a, p.args)
	}
	return in.disable(a, p.args)
}

var titles = map[string]string{
	"dns": "DNS", "rbac": "RBAC", "ingress": "Ingress", "metrics-server": "Metrics-Server",
	"metallb": "MetalLB", "cert-manager": "cert-manager", "openebs": "OpenEBS",
}

func title(name string) string {
	if t, ok := titles[name]; ok {
		return t
	}
	return name
}

// sizeRE is the registry addon's size check, anchored like Python's re.match.
var sizeRE = regexp.MustCompile(`(^[2-9][0-9]{1,}|^[1-9][0-9]{2,})(Gi$)`)

func (in *inv) enable(a addon, args []string) int {
	h := in.h
	switch a.name {
	case "community":
		if err := h.addCommunityRepo(); err != nil {
			in.errln(err.Error())
			return 1
		}
		in.outln("Community repository is now enabled")
		return 0
	case "host-access", "cis-hardening":
		if err := touch(h.addonFile(a)); err != nil {
			in.errln(err.Error())
			return 1
		}
		in.outln(fmt.Sprintf("Addon %s is enabled", a.name))
		return 0
	case "ha-cluster", "helm", "helm3":
		in.outln(fmt.Sprintf("Addon %s/%s is already enabled", a.repo, a.name))
		return 0
	case "storage":
		in.outln("WARNING: The storage addon is deprecated, use hostpath-storage instead.")
		return in.nested("enable", append([]string{"hostpath-storage"}, args...))
	case "gpu":
		return in.nested("enable", append([]string{"nvidia"}, args...))
	case "hostpath-storage":
		return in.enableHostpath(a, args)
	case "registry":
		return in.enableRegistry(a, args)
	case "openebs":
		out, _ := h.runner().Run(in.ctx, "systemctl", "is-enabled", "iscsid")
		if !strings.Contains(out, "enabled") {
			in.outln("iscsid is not available or enabled.")
			in.outln("Make sure iscsi is installed on all nodes.\nTo enable iscsid: \n      sudo systemctl enable iscsid\nPlease refer to the OpenEBS prerequisites (https://docs.openebs.io/docs/next/prerequisites.html)")
			return 0
		}
		if c := in.nested("enable", []string{"dns"}); c != 0 {
			return c
		}
		if c := in.nested("enable", []string{"helm3"}); c != 0 {
			return c
		}
		if c := in.record(a, true, args); c != 0 {
			return c
		}
		in.outln("OpenEBS is installed")
		return 0
	case "dns":
		in.outln("Enabling DNS")
		in.outln("Applying manifest")
		if c := in.record(a, true, args); c != 0 {
			return c
		}
		in.outln("CoreDNS service deployed with IP address 10.152.183.10")
		in.outln("Restarting kubelet")
		in.outln("DNS is enabled")
		return 0
	}
	in.outln("Enabling " + title(a.name))
	if c := in.record(a, true, args); c != 0 {
		return c
	}
	in.outln(title(a.name) + " is enabled")
	return 0
}

func (in *inv) enableHostpath(a addon, args []string) int {
	policy, def := "Delete", "true"
	for i := 0; i < len(args); i++ {
		k, v, hasV := strings.Cut(args[i], "=")
		if !hasV && i+1 < len(args) {
			v = args[i+1]
		}
		switch k {
		case "-r", "--reclaim-policy":
			policy = v
		case "-d", "--default-class":
			def = v
		default:
			in.outln("invalid option -- " + args[i])
			return 1
		}
		if !hasV {
			i++
		}
	}
	if policy != "Delete" && policy != "Retain" {
		in.outln("\nPlease check submitted arguments.\nYou can use '--reclaim-policy' to set the reclaim policy. Allowed values: Delete Retain. Defaults to 'Delete'.\n   microk8s enable hostpath-storage --reclaim-policy=Retain")
		return 1
	}
	if def != "true" && def != "false" {
		in.outln("\nPlease check submitted arguments.\nYou can use '--default-class' to set the storage class as default. Allowed values: true false. Defaults to 'true'.\n   microk8s enable hostpath-storage --default-class=true")
		return 1
	}
	in.outln("Enabling default storage class.\nWARNING: Hostpath storage is not suitable for production environments.\n         A hostpath volume can grow beyond the size limit set in the volume claim manifest.\n")
	if err := os.MkdirAll(in.h.snapCommon("default-storage"), 0o755); err != nil {
		in.errln(err.Error())
		return 1
	}
	if c := in.record(a, true, args); c != 0 {
		return c
	}
	in.outln("Storage will be available soon.")
	return 0
}

func (in *inv) enableRegistry(a addon, args []string) int {
	size, class, sizeOpt := "20Gi", "", ""
	for i := 0; i < len(args); i++ {
		k, v, hasV := strings.Cut(args[i], "=")
		switch {
		case k == "--size" || k == "--storageclass":
			if !hasV {
				if i+1 >= len(args) {
					in.errln(fmt.Sprintf("Error: Option '%s' requires an argument.", k))
					return 2
				}
				v = args[i+1]
				i++
			}
			if k == "--size" {
				size = v
			} else {
				class = v
			}
		case !strings.HasPrefix(args[i], "-") && sizeOpt == "":
			sizeOpt = args[i]
		default:
			in.errln(fmt.Sprintf("Error: No such option: %s", args[i]))
			return 2
		}
	}
	if class == "" {
		in.nested("enable", []string{"hostpath-storage"})
	}
	if class != "" {
		st, _ := in.h.loadState()
		if !slices.Contains(in.h.storageClasses(st), class) {
			in.outln(fmt.Sprintf("ERROR: Storage class %s doesn't exist.", class))
			return 1
		}
	}
	if sizeOpt != "" {
		k, v, ok := strings.Cut(sizeOpt, "=")
		if !ok || k != "size" || strings.Contains(v, "=") {
			in.outln("ERROR: Failed to parse arguments. Use --size and --storageclass to specify custom size and storage class.")
			return 1
		}
		size = v
		in.outln("WARNING: This style of specifying size is deprecated. Use newer --size argument instead.")
	}
	if !sizeRE.MatchString(size) {
		in.outln("ERROR: The size of the registry should be higher or equal to 20Gi and match the regex: " + sizeRE.String())
		return 1
	}
	in.outln(fmt.Sprintf("The registry will be created with the size of %s.", size))
	if class != "" {
		in.outln(fmt.Sprintf("Storage class %s will be used.", class))
	} else {
		in.outln("Default storage class will be used.")
	}
	rec := []string{"--size=" + size}
	if class != "" {
		rec = append(rec, "--storageclass="+class)
	}
	return in.record(a, true, rec)
}

// storageClasses are the classes the enabled addons provide.
func (h *Host) storageClasses(st *State) []string {
	var out []string
	if st == nil {
		return nil
	}
	for k := range st.Addons {
		out = append(out, storageClasses[k]...)
	}
	sort.Strings(out)
	return out
}

func (in *inv) disable(a addon, args []string) int {
	h := in.h
	switch a.name {
	case "community":
		_ = os.RemoveAll(h.snapCommon("addons", "community"))
		in.outln("Community repository is now disabled")
		return 0
	case "host-access", "cis-hardening":
		_ = os.Remove(h.addonFile(a))
		in.outln(fmt.Sprintf("Addon %s is disabled", a.name))
		return 0
	case "ha-cluster", "helm", "helm3":
		in.errln(fmt.Sprintf("Disabling %s is not supported by the homelab lab fake.", a.name))
		return 1
	case "storage":
		return in.nested("disable", append([]string{"hostpath-storage"}, args...))
	case "gpu":
		return in.nested("disable", append([]string{"nvidia"}, args...))
	case "hostpath-storage":
		in.outln("Disabling hostpath storage.")
		if c := in.record(a, false, args); c != 0 {
			return c
		}
		in.outln("Storage removed.")
		dir := h.snapCommon("default-storage")
		if !slices.Contains(args, "destroy-storage") {
			in.out(fmt.Sprintf("Remove PVC storage at %s ? (Y/N): ", snapCommonRel+"/default-storage"))
			line, _ := bufio.NewReader(in.io.In).ReadString('\n')
			switch strings.ToLower(strings.TrimSpace(line)) {
			case "y", "yes":
			default:
				return 1
			}
		}
		_ = os.RemoveAll(dir)
		in.outln("Storage space reclaimed.")
		return 0
	case "registry":
		in.outln("Disabling the private registry")
		if c := in.record(a, false, args); c != 0 {
			return c
		}
		in.outln("The registry is disabled. Use 'microk8s disable hostpath-storage:destroy-storage' to free the storage space.")
		return 0
	}
	in.outln("Disabling " + title(a.name))
	if c := in.record(a, false, args); c != 0 {
		return c
	}
	in.outln(title(a.name) + " is disabled")
	return 0
}

// record hands the change to the Kube hook, then writes it into the
// replicated state.
func (in *inv) record(a addon, enable bool, args []string) int {
	key := a.stateKey()
	repo, name, _ := strings.Cut(key, "/")
	if err := in.h.kube().Addon(in.ctx, AddonChange{Repository: repo, Name: name, Enable: enable, Args: args}); err != nil {
		in.errln(fmt.Sprintf("Failed to %s %s: %v", map[bool]string{true: "enable", false: "disable"}[enable], key, err))
		return 1
	}
	err := in.h.mutate(in.ctx, func(st *State) error {
		if enable {
			st.Addons[key] = slices.Clone(args)
		} else {
			delete(st.Addons, key)
		}
		return nil
	})
	if err != nil {
		in.errln(err.Error())
		return 1
	}
	return 0
}

// nested runs another microk8s command as an addon script would.
func (in *inv) nested(verb string, args []string) int {
	return in.xable(verb, args)
}
