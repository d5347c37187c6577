package stacks

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

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
			if j, dup := firstIndex(names, a.Name, i); dup {
				v.add(p+".name", "%q is already the name of apps[%d]", a.Name, j)
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
