package controlplane

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Versions of the tools scripts/install-tools builds; the cache is keyed by them.
const (
	KubeVersion = "v1.34.2"
	KwokVersion = "v0.7.0"
)

// Tools are the paths of the control plane's binaries.
type Tools struct {
	Etcd, APIServer, ControllerManager, Scheduler, Kwok string
}

// FindTools locates the binaries: the Kubernetes ones and kwok under $HOMELAB_TOOLS
// (default ~/.cache/homelab/tools), as scripts/install-tools caches them, and etcd
// from Debian's etcd-server package on PATH.
func FindTools() (Tools, error) {
	dir := os.Getenv("HOMELAB_TOOLS")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return Tools{}, fmt.Errorf("finding the tools dir: %w", err)
		}
		dir = filepath.Join(home, ".cache", "homelab", "tools")
	}
	kube := filepath.Join(dir, "kube-"+KubeVersion)
	t := Tools{
		APIServer:         filepath.Join(kube, "kube-apiserver"),
		ControllerManager: filepath.Join(kube, "kube-controller-manager"),
		Scheduler:         filepath.Join(kube, "kube-scheduler"),
		Kwok:              filepath.Join(dir, "kwok-"+KwokVersion, "kwok"),
	}
	for _, p := range []string{t.APIServer, t.ControllerManager, t.Scheduler, t.Kwok} {
		if _, err := os.Stat(p); err != nil {
			return Tools{}, fmt.Errorf("%s is missing: build the lab tools with scripts/install-tools kube kwok (or point HOMELAB_TOOLS at them)", p)
		}
	}
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		return Tools{}, fmt.Errorf("etcd is not installed: apt-get install etcd-server")
	}
	t.Etcd = etcd
	return t, nil
}
