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
//
// Each section's type lives with its validation in config_<section>.go
// (config_nodes.go, config_apps.go, …).
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
