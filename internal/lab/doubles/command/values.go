package command

import "github.com/pulumi/pulumi/sdk/v3/go/common/resource"

// isUnknown is true for a value not known yet, secret or not.
func isUnknown(v resource.PropertyValue) bool {
	_, known, _ := fold(v)
	return !known
}

// fold strips the secret, unknown and output wrappers off v and says which it had.
func fold(v resource.PropertyValue) (inner resource.PropertyValue, known, secret bool) {
	known = true
	for {
		switch {
		case v.IsSecret():
			secret, v = true, v.SecretValue().Element
		case v.IsComputed():
			known, v = false, v.Input().Element
		case v.IsOutput():
			o := v.OutputValue()
			known, secret, v = known && o.Known, secret || o.Secret, o.Element
		default:
			return v, known, secret
		}
	}
}
