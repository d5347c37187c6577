package stacks

import (
	"regexp"
	"strings"
)

// NetworkController configures the UniFi Network controller.
type NetworkController struct {
	Node    string `json:"node" doc:"name of the node that runs the controller"`
	Address string `json:"address" doc:"well-known IPv4 address the devices were told; moves with the controller"`
	Version string `json:"version" doc:"controller version (x.y.z)"`
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
			if pr, ok := node.staticPrefix(); ok && !pr.Contains(a) {
				v.add("networkController.address", "%s is outside %s's subnet %s", a, node.Name, pr.Masked())
			}
		}
	}
	if !versionRe.MatchString(nc.Version) {
		v.add("networkController.version", "%q is not a version such as 9.0.114", nc.Version)
	}
}
