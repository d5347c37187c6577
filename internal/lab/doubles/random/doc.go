// Package random is a TEST DOUBLE of the pulumi-random resource plugin
// (pulumi-resource-random v4.21.1, the version github.com/pulumi/pulumi-random/sdk/v4
// v4.21.1 asks the engine for). It exists because the real plugin cannot be obtained
// in the lab; it is written from the real provider's documented behaviour (the
// terraform random provider it bridges), not copied.
//
// It serves random:index/randomPassword:RandomPassword and
// random:index/randomString:RandomString with the real tokens, inputs and outputs:
// the value is drawn once from crypto/rand and kept in state; any input change
// (keepers included) is a replacement, which draws a new value. RandomPassword's
// result and bcryptHash are secrets.
package random
