package stacks

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

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
			if j, dup := firstIndex(names, s.Name, i); dup {
				v.add(p+".name", "%q is already the name of backups.sources[%d]", s.Name, j)
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
