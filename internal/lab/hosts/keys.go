package hosts

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// keyPair is an ed25519 key in the forms sshd, clients and config files want.
type keyPair struct {
	private    []byte        // OpenSSH PEM
	public     ssh.PublicKey // for pinning
	authorized string        // "ssh-ed25519 AAAA..." without a trailing newline
	signer     ssh.Signer
}

func newKeyPair(comment string) (keyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("generating ed25519 key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return keyPair{}, fmt.Errorf("encoding ed25519 key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return keyPair{}, fmt.Errorf("encoding ed25519 public key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return keyPair{}, fmt.Errorf("making ssh signer: %w", err)
	}
	return keyPair{
		private:    pem.EncodeToMemory(block),
		public:     sshPub,
		authorized: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))),
		signer:     signer,
	}, nil
}

// newMachineID returns a random machine-id as systemd writes one: 32 lowercase hex digits.
func newMachineID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating machine-id: %w", err)
	}
	// systemd makes its ids look like v4 UUIDs; do the same.
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return hex.EncodeToString(b), nil
}
