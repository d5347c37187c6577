package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// pki is one cluster's key material: its own CA, the API server's serving
// certificate, the admin client certificate and the service-account signing key.
type pki struct {
	caCert  *x509.Certificate
	caKey   crypto.Signer
	caPEM   []byte
	servPEM []byte
	servKey []byte
	admPEM  []byte
	admKey  []byte
	saKey   []byte
	saPub   []byte
}

// serviceIP is the first address of the service range: the in-cluster API address.
var serviceIP = netip.MustParseAddr("10.152.183.1")

// serviceRange is microk8s' default service CIDR.
const serviceRange = "10.152.183.0/24"

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding key: %w", err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

// sans lists the serving certificate's names: loopback, the service IP, the usual
// in-cluster names, the given addresses and every address of the given prefixes.
func sans(ips []netip.Addr, prefixes []netip.Prefix) ([]net.IP, []string, error) {
	seen := map[netip.Addr]bool{}
	var out []net.IP
	add := func(a netip.Addr) {
		if a.IsValid() && !seen[a] {
			seen[a] = true
			out = append(out, a.AsSlice())
		}
	}
	add(netip.MustParseAddr("127.0.0.1"))
	add(serviceIP)
	for _, a := range ips {
		add(a)
	}
	for _, p := range prefixes {
		if p.Addr().Is4() && p.Bits() < 22 {
			return nil, nil, fmt.Errorf("SAN prefix %s is larger than a /22", p)
		}
		for a := p.Masked().Addr(); p.Contains(a); a = a.Next() {
			add(a)
		}
	}
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster", "kubernetes.default.svc.cluster.local"}
	return out, dns, nil
}

func newPKI(ips []netip.Addr, prefixes []netip.Prefix) (*pki, error) {
	caKey, _, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "10.152.183.1", Organization: []string{"homelab-lab"}},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("creating CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parsing CA: %w", err)
	}
	p := &pki{caCert: caCert, caKey: caKey, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}

	ipSANs, dnsSANs, err := sans(ips, prefixes)
	if err != nil {
		return nil, err
	}
	if p.servPEM, p.servKey, err = p.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: ipSANs,
		DNSNames:    dnsSANs,
	}); err != nil {
		return nil, fmt.Errorf("signing the serving certificate: %w", err)
	}
	// microk8s (1.28+) hands out an admin client certificate in system:masters.
	if p.admPEM, p.admKey, err = p.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, fmt.Errorf("signing the admin certificate: %w", err)
	}
	sa, saPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(sa.Public())
	if err != nil {
		return nil, fmt.Errorf("encoding service-account key: %w", err)
	}
	p.saKey, p.saPub = saPEM, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	return p, nil
}

func (p *pki) sign(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = tmpl.NotBefore.Add(365 * 24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, key.Public(), p.caKey)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// write puts the PKI's files into dir.
func (p *pki) write(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for name, data := range map[string][]byte{
		"ca.crt": p.caPEM, "server.crt": p.servPEM, "server.key": p.servKey,
		"admin.crt": p.admPEM, "admin.key": p.admKey, "sa.key": p.saKey, "sa.pub": p.saPub,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}

// NewCA returns a fresh CA certificate (PEM) that belongs to no cluster: a foreign CA
// for tests that check a client really verifies the server.
func NewCA() ([]byte, error) {
	p, err := newPKI(nil, nil)
	if err != nil {
		return nil, err
	}
	return p.caPEM, nil
}
