package stacks

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
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
