package stacks

import "golang.org/x/crypto/ssh"

// Secrets are read from their own top-level keys, each set with
// `pulumi config set --secret`. The program holds them as plain strings only
// to validate them; components receive them as secret Outputs.
type Secrets struct {
	SSHPrivateKey  string
	ResticPassword string
	// AppSecrets maps app name to secret name to value.
	AppSecrets map[string]map[string]string
}

// SecretKey describes a top-level secret config key.
type SecretKey struct {
	Key         string
	Structured  bool // a JSON object rather than a string
	Description string
}

// SecretKeys are the top-level keys that hold secrets.
var SecretKeys = []SecretKey{
	{Key: "sshPrivateKey", Description: "the SSH private key (OpenSSH format, unencrypted) that reaches every node"},
	{Key: "resticPassword", Description: "the password of the restic repository; required when backups is set"},
	{Key: "appSecrets", Structured: true, Description: "app name to secret name to value; required for every name an app lists in secrets"},
}

// secrets checks the secret keys; apps check their own entries of
// appSecrets.
func (v *validator) secrets() {
	s := v.c.Secrets
	if s.SSHPrivateKey == "" {
		v.add("sshPrivateKey", "is required: pulumi config set --secret sshPrivateKey < ~/.ssh/homelab_ed25519")
	} else if _, err := ssh.ParsePrivateKey([]byte(s.SSHPrivateKey)); err != nil {
		// The error text of ParsePrivateKey never includes key material.
		v.add("sshPrivateKey", "is not an unencrypted private key in OpenSSH or PEM form: %v", err)
	}
	if v.c.Backups != nil && s.ResticPassword == "" {
		v.add("resticPassword", "is required when backups is set: pulumi config set --secret resticPassword <password>")
	}
}
