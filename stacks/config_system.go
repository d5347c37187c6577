package stacks

import (
	"fmt"
	"regexp"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

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
		v.hostsEntryNotANode(p, name)
		v.ipv4(p, s.Hosts[name])
	}
}
