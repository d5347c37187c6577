package microk8s

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// keyPair is a PEM certificate and its PEM key.
type keyPair struct{ Cert, Key []byte }

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

// newCA is a self-signed CA named as microk8s names its own (CN=10.152.183.1).
func newCA() (keyPair, error) {
	k, keyPEM, err := newKey()
	if err != nil {
		return keyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "10.152.183.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return keyPair{}, fmt.Errorf("creating CA: %w", err)
	}
	return keyPair{Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Key: keyPEM}, nil
}

// sign issues a leaf certificate from ca.
func sign(ca keyPair, cn string, orgs []string, ips []net.IP, dns []string, usage []x509.ExtKeyUsage) (keyPair, error) {
	caCert, caKey, err := parsePair(ca)
	if err != nil {
		return keyPair{}, err
	}
	k, keyPEM, err := newKey()
	if err != nil {
		return keyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  usage,
		IPAddresses:  ips,
		DNSNames:     dns,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
	if err != nil {
		return keyPair{}, fmt.Errorf("signing %s: %w", cn, err)
	}
	return keyPair{Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Key: keyPEM}, nil
}

func parsePair(p keyPair) (*x509.Certificate, any, error) {
	c, err := tls.X509KeyPair(p.Cert, p.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing key pair: %w", err)
	}
	cert, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	return cert, c.PrivateKey, nil
}

// certCheck is what add-node prints after the token: the first 12 hex digits of
// the SHA-256 of server.crt in DER form. microk8s' server_cert_check converts the
// PEM file to DER (`openssl x509 -outform der | sha256sum | cut -c1-12`) and join.py
// hashes the peer's DER certificate (getpeercert(True)), so DER it is.
func certCheck(certPEM []byte) (string, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return "", errors.New("server.crt holds no PEM certificate")
	}
	return derCheck(b.Bytes), nil
}

func derCheck(der []byte) string { return derHex(der)[:12] }

// derHex is the SHA-256 of a DER certificate, in hex.
func derHex(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func readPair(certPath, keyPath string) (keyPair, error) {
	c, err := os.ReadFile(certPath)
	if err != nil {
		return keyPair{}, err
	}
	k, err := os.ReadFile(keyPath)
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{Cert: c, Key: k}, nil
}

func parseCert(certPEM []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}
