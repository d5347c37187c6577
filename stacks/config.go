// Package stacks holds the typed configuration of a home-lab stack, its
// validation, and the wiring of the components into the home stack.
package stacks

// Namespace is the project's Pulumi config namespace: keys are "homelab:<key>".
const Namespace = "homelab"

// Config is the whole stack configuration: what the user wrote in
// Pulumi.<stack>.yaml, after defaults. Facts discovered on the hosts live
// elsewhere (components/remotenode); nothing here is read from a machine.
//
// Secrets are not fields of the structured keys: Pulumi cannot tell the program
// which nested value was `secure:`, so each secret has its own top-level key
// (see Secrets).
type Config struct {
	Nodes             []Node             `json:"nodes" doc:"the hosts of the lab, in order"`
	Cluster           Cluster            `json:"cluster" doc:"microk8s on the nodes"`
	System            System             `json:"system" doc:"base provisioning applied to every node"`
	Registry          Registry           `json:"registry" doc:"the in-cluster image registry"`
	NetworkController *NetworkController `json:"networkController" doc:"the UniFi Network controller (off when absent or empty)"`
	Devices           map[string]string  `json:"devices" doc:"device name to IPv4 address: the one place device addresses live"`
	Apps              []App              `json:"apps" doc:"the home apps run on the cluster"`
	Backups           *Backups           `json:"backups" doc:"the restic backups (off when absent or empty)"`

	Secrets Secrets `json:"-"`
}

// Node is one host of the lab.
type Node struct {
	Name          string   `json:"name" doc:"node name and hostname, a DNS-1123 label"`
	Address       string   `json:"address" doc:"install-time SSH address (IPv4, may be a DHCP lease); the static-IP step always dials it"`
	Port          int      `json:"port" default:"22" doc:"SSH port"`
	User          string   `json:"user" doc:"SSH user with passwordless sudo"`
	HostKey       string   `json:"hostKey" doc:"pinned SSH host key in authorized_keys form (ssh-ed25519 or ecdsa-sha2-*); the first run prints the line that sets it"`
	StaticAddress string   `json:"staticAddress" doc:"static address in CIDR form (192.168.1.21/24); later steps dial it"`
	Gateway       string   `json:"gateway" doc:"default gateway, inside staticAddress's subnet"`
	DNS           []string `json:"dns" default:"[gateway]" doc:"DNS servers (IPv4)"`
	Role          string   `json:"role" default:"control-plane" doc:"control-plane or worker"`
	Down          bool     `json:"down" default:"false" doc:"the host is known to be dead: keep its resources as they are and plan nothing for it"`
}

// Roles a node can have.
const (
	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"
)

// Cluster configures microk8s.
type Cluster struct {
	Channel          string  `json:"channel" default:"1.32/stable" doc:"snap channel of microk8s (<major>.<minor>/<risk>)"`
	HA               bool    `json:"ha" default:"false" doc:"high availability: needs at least 3 control-plane nodes"`
	APIServerAddress string  `json:"apiServerAddress" doc:"address put in the kubeconfig (IPv4); added to the API server certificate; default: the first reachable control-plane node"`
	Addons           []Addon `json:"addons" default:"dns, hostpath-storage" doc:"microk8s addons to enable"`
}

// Addon is a microk8s addon and its arguments.
type Addon struct {
	Name string   `json:"name" doc:"addon name, optionally with its repository (community/openebs)"`
	Args []string `json:"args" doc:"arguments passed to microk8s enable"`
}

// System is the base provisioning of every node (RemoteNode).
type System struct {
	Journald      Journald          `json:"journald" doc:"journald settings that cut SSD writes"`
	ExtraPackages []string          `json:"extraPackages" doc:"Debian/Ubuntu packages installed on every node besides the base set"`
	UpgradeEpoch  int               `json:"upgradeEpoch" default:"0" doc:"bump to upgrade the OS packages of every node, one node at a time"`
	Hosts         map[string]string `json:"hosts" doc:"extra /etc/hosts entries, name to IPv4, in a managed block"`
	IPConfirmTime string            `json:"ipConfirmTime" default:"3m" doc:"how long a new static address has to answer the confirm step before the host rolls it back (20s to 30m)"`
}

// Journald configures the journald drop-in.
type Journald struct {
	Storage      string `json:"storage" default:"volatile" doc:"volatile (RAM only), persistent or auto"`
	SystemMaxUse string `json:"systemMaxUse" default:"64M" doc:"cap on journal size (<n>K, <n>M or <n>G)"`
}

// Registry configures the microk8s registry addon (LocalRegistry).
type Registry struct {
	Enabled      bool   `json:"enabled" default:"false" doc:"enable the registry addon and point every node's containerd at it"`
	Size         string `json:"size" default:"20Gi" doc:"registry volume size, at least 20Gi"`
	StorageClass string `json:"storageClass" doc:"storage class of the registry volume (default: microk8s hostpath)"`
}

// NetworkController configures the UniFi Network controller.
type NetworkController struct {
	Node    string `json:"node" doc:"name of the node that runs the controller"`
	Address string `json:"address" doc:"well-known IPv4 address the devices were told; moves with the controller"`
	Version string `json:"version" doc:"controller version (x.y.z)"`
}

// App is one home app: a Deployment, or a CronJob when Schedule is set.
type App struct {
	Name         string            `json:"name" doc:"app name, a DNS-1123 label"`
	Image        string            `json:"image" doc:"container image (registry.localdomain:32000/<app>:<tag> for images pushed to the lab registry)"`
	Port         int               `json:"port" default:"0" doc:"container port served through a Service; 0 means none"`
	Args         []string          `json:"args" doc:"container arguments; may use {{device:NAME}}"`
	Env          map[string]string `json:"env" doc:"environment variables; values may use {{device:NAME}}"`
	Secrets      []string          `json:"secrets" doc:"names of this app's entries in appSecrets, mounted as files under /run/secrets/<app>/"`
	ConfigFiles  []ConfigFile      `json:"configFiles" doc:"files mounted into the container; a change rolls the pods"`
	Ingress      *Ingress          `json:"ingress" doc:"HTTP routes to the app's port"`
	Schedule     string            `json:"schedule" doc:"cron schedule: run as a CronJob instead of a Deployment"`
	PVC          *PVC              `json:"pvc" doc:"a persistent volume on the node's disk, restored from the newest backup when created empty"`
	HostNetwork  bool              `json:"hostNetwork" default:"false" doc:"run in the node's network namespace (mDNS, HomeKit)"`
	NodeSelector map[string]string `json:"nodeSelector" doc:"node labels the pod must match; kubernetes.io/hostname names a node"`
}

// ConfigFile is a file mounted into an app's container.
type ConfigFile struct {
	Path    string `json:"path" doc:"absolute path in the container"`
	Content string `json:"content" doc:"file content; may use {{device:NAME}}"`
}

// Ingress routes HTTP paths to an app.
type Ingress struct {
	Paths       []string          `json:"paths" doc:"URL path prefixes, each starting with /"`
	Annotations map[string]string `json:"annotations" doc:"annotations of the Ingress object"`
}

// PVC is an app's persistent volume claim.
type PVC struct {
	Size      string `json:"size" doc:"requested size, a Kubernetes quantity (1Gi)"`
	MountPath string `json:"mountPath" doc:"absolute mount path in the container"`
}

// Backups configures the one restic repository everything is backed up to.
type Backups struct {
	Repository          string         `json:"repository" doc:"restic repository OFF the lab: sftp:user@host:/path, s3:…, rest:…, b2:…, azure:…, gs:…, rclone:…, or an absolute path of an NFS/USB mount"`
	Sources             []BackupSource `json:"sources" doc:"what is backed up"`
	Retention           Retention      `json:"retention" doc:"restic forget policy, per source"`
	MaintenanceSchedule string         `json:"maintenanceSchedule" default:"0 5 * * 0" doc:"cron schedule of forget --prune and check"`
}

// BackupSource is one thing that is backed up.
type BackupSource struct {
	Name     string `json:"name" doc:"source name, a DNS-1123 label; the restic --host and tag"`
	Kind     string `json:"kind" doc:"path, pvc, controller or registry"`
	App      string `json:"app" doc:"kind pvc: the app whose PVC is backed up"`
	Node     string `json:"node" doc:"kind path: the node the path is on"`
	Path     string `json:"path" doc:"kind path: the absolute path backed up"`
	Schedule string `json:"schedule" default:"30 3 * * *" doc:"cron schedule of the backup"`
	MaxAge   string `json:"maxAge" default:"36h" doc:"the drift check fails when the newest snapshot is older (Go duration, or <n>d)"`
}

// Backup source kinds.
const (
	SourcePath       = "path"
	SourcePVC        = "pvc"
	SourceController = "controller"
	SourceRegistry   = "registry"
)

// Retention is the restic forget policy.
type Retention struct {
	KeepDaily   int `json:"keepDaily" default:"7" doc:"daily snapshots kept"`
	KeepWeekly  int `json:"keepWeekly" default:"4" doc:"weekly snapshots kept"`
	KeepMonthly int `json:"keepMonthly" default:"6" doc:"monthly snapshots kept"`
}

// Secrets are read from their own top-level keys, each set with
// `pulumi config set --secret`. The program holds them as plain strings only
// to validate them; components receive them as secret Outputs.
type Secrets struct {
	SSHPrivateKey  string
	ResticPassword string
	// AppSecrets maps app name to secret name to value.
	AppSecrets map[string]map[string]string
}

// SecretKey describes a top-level secret config key.
type SecretKey struct {
	Key         string
	Structured  bool // a JSON object rather than a string
	Description string
}

// SecretKeys are the top-level keys that hold secrets.
var SecretKeys = []SecretKey{
	{Key: "sshPrivateKey", Description: "the SSH private key (OpenSSH format, unencrypted) that reaches every node"},
	{Key: "resticPassword", Description: "the password of the restic repository; required when backups is set"},
	{Key: "appSecrets", Structured: true, Description: "app name to secret name to value; required for every name an app lists in secrets"},
}

// applyDefaults fills what the user left out. Defaults that depend on other
// values (DNS defaults to the gateway) are filled here too, so validation and
// components see one complete model.
func (c *Config) applyDefaults() {
	for i := range c.Nodes {
		n := &c.Nodes[i]
		if n.Port == 0 {
			n.Port = 22
		}
		if n.Role == "" {
			n.Role = RoleControlPlane
		}
		if len(n.DNS) == 0 && n.Gateway != "" {
			n.DNS = []string{n.Gateway}
		}
	}
	if c.Cluster.Channel == "" {
		c.Cluster.Channel = "1.32/stable"
	}
	if c.Cluster.Addons == nil {
		c.Cluster.Addons = []Addon{{Name: "dns"}, {Name: "hostpath-storage"}}
	}
	if c.System.IPConfirmTime == "" {
		c.System.IPConfirmTime = "3m"
	}
	if c.System.Journald.Storage == "" {
		c.System.Journald.Storage = "volatile"
	}
	if c.System.Journald.SystemMaxUse == "" {
		c.System.Journald.SystemMaxUse = "64M"
	}
	if c.Registry.Size == "" {
		c.Registry.Size = "20Gi"
	}
	if b := c.Backups; b != nil {
		if b.MaintenanceSchedule == "" {
			b.MaintenanceSchedule = "0 5 * * 0"
		}
		if b.Retention == (Retention{}) {
			b.Retention = Retention{KeepDaily: 7, KeepWeekly: 4, KeepMonthly: 6}
		}
		for i := range b.Sources {
			s := &b.Sources[i]
			if s.Schedule == "" {
				s.Schedule = "30 3 * * *"
			}
			if s.MaxAge == "" {
				s.MaxAge = "36h"
			}
		}
	}
}

// NodeByName returns the named node, or nil.
func (c *Config) NodeByName(name string) *Node {
	for i := range c.Nodes {
		if c.Nodes[i].Name == name {
			return &c.Nodes[i]
		}
	}
	return nil
}

// AppByName returns the named app, or nil.
func (c *Config) AppByName(name string) *App {
	for i := range c.Apps {
		if c.Apps[i].Name == name {
			return &c.Apps[i]
		}
	}
	return nil
}
