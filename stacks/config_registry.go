package stacks

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Registry configures the microk8s registry addon (LocalRegistry).
type Registry struct {
	Enabled      bool   `json:"enabled" default:"false" doc:"enable the registry addon and point every node's containerd at it"`
	Size         string `json:"size" default:"20Gi" doc:"registry volume size, at least 20Gi"`
	StorageClass string `json:"storageClass" doc:"storage class of the registry volume (default: microk8s hostpath)"`
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
