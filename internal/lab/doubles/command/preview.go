package command

import (
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// What a preview knows of the outputs. The real provider leaves it to
// pulumi-go-provider's infer layer (markComputed), with its default flow: every
// output depends on every input. An output that mirrors an input with the same
// value stays as it is; any other output (Command's stdout and stderr) is
// unknown in a create, and in an update when an input is unknown or differs
// from its old value. CopyToRemote's outputs are its inputs, so nothing of it
// turns unknown.

// computedOutputs marks stdout and stderr unknown.
func computedOutputs(out resource.PropertyMap) {
	for _, k := range []resource.PropertyKey{"stdout", "stderr"} {
		out[k] = resource.MakeComputed(resource.NewStringProperty(""))
	}
}

// inputsChanged is infer's test for an update: an input of the resource that
// is unknown now, or that the old state holds with another value. As there, an
// input the old state lacks is no change on its own, and the old state is what
// it compares against (infer's Update passes the old state as the old inputs;
// the outputs that are not inputs are never looked at).
func inputsChanged(tok string, olds, news resource.PropertyMap) bool {
	for _, name := range spec.inputsOf(tok) {
		k := resource.PropertyKey(name)
		if isUnknown(news[k]) {
			return true
		}
		if old, ok := olds[k]; ok && !sameValue(old, news[k]) {
			return true
		}
	}
	return false
}

// sameValue compares a and b as infer does: deeply, with secretness and
// knownness part of the value however they are wrapped.
func sameValue(a, b resource.PropertyValue) bool {
	a, aKnown, aSecret := fold(a)
	b, bKnown, bSecret := fold(b)
	if aKnown != bKnown || aSecret != bSecret {
		return false
	}
	switch {
	case a.IsArray() && b.IsArray():
		return sameArray(a.ArrayValue(), b.ArrayValue())
	case a.IsObject() && b.IsObject():
		return sameObject(a.ObjectValue(), b.ObjectValue())
	case a.IsNull() && b.IsNull():
		return true
	case a.IsBool() && b.IsBool():
		return a.BoolValue() == b.BoolValue()
	case a.IsNumber() && b.IsNumber():
		return a.NumberValue() == b.NumberValue()
	case a.IsString() && b.IsString():
		return a.StringValue() == b.StringValue()
	case a.IsAsset() && b.IsAsset():
		return a.AssetValue().Equals(b.AssetValue())
	case a.IsArchive() && b.IsArchive():
		return a.ArchiveValue().Equals(b.ArchiveValue())
	case a.IsResourceReference() && b.IsResourceReference():
		return a.DeepEquals(b)
	}
	return false
}

func sameArray(a, b []resource.PropertyValue) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameValue(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameObject(a, b resource.PropertyMap) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !sameValue(v, w) {
			return false
		}
	}
	return true
}
