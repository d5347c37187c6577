package stacks

import (
	"regexp"

	"k8s.io/apimachinery/pkg/util/validation"
)

// devices checks Config.Devices, device name to IPv4 address: the addresses
// apps refer to as {{device:NAME}}.
func (v *validator) devices() {
	for _, name := range sortedMapKeys(v.c.Devices) {
		p := "devices." + name
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			v.add(p, "%q is not a device name (a DNS-1123 label)", name)
		}
		if a, ok := v.ipv4(p, v.c.Devices[name]); ok {
			v.claim(p, a)
		}
	}
}

// deviceRef matches {{device:NAME}} references, with tolerant spacing so a
// near-miss is reported rather than passed through literally.
var deviceRef = regexp.MustCompile(`\{\{\s*device\s*:\s*([^}]*?)\s*\}\}`)

// DeviceRefs returns the device names referenced in s, in order.
func DeviceRefs(s string) []string {
	var names []string
	for _, m := range deviceRef.FindAllStringSubmatch(s, -1) {
		names = append(names, m[1])
	}
	return names
}

func (v *validator) deviceRefs(p, s string) {
	for _, name := range DeviceRefs(s) {
		if _, ok := v.c.Devices[name]; !ok {
			v.add(p, "refers to unknown device %q; devices has %s", name, orNone(sortedMapKeys(v.c.Devices)))
		}
	}
}
