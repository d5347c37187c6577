package controlplane

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"net/netip"
	"strings"
	"testing"
)

func parseCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestServingCertificateNamesEveryAddress(t *testing.T) {
	p, err := newPKI([]netip.Addr{netip.MustParseAddr("10.213.7.1")}, []netip.Prefix{netip.MustParsePrefix("10.213.7.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.caCert)
	serving := parseCert(t, p.servPEM)
	for _, name := range []string{"127.0.0.1", "10.213.7.1", "10.213.7.101", "10.213.7.10", "10.152.183.1", "kubernetes.default.svc", "localhost"} {
		if _, err := serving.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := serving.Verify(x509.VerifyOptions{DNSName: "10.213.8.101", Roots: roots}); err == nil {
		t.Error("an address outside the SANs verified")
	}
	admin := parseCert(t, p.admPEM)
	if admin.Subject.CommonName != "admin" || len(admin.Subject.Organization) != 1 || admin.Subject.Organization[0] != "system:masters" {
		t.Errorf("admin subject %v", admin.Subject)
	}
	if _, err := admin.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin cert: %v", err)
	}
}

func TestEveryPKIHasItsOwnCA(t *testing.T) {
	a, err := newPKI(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newPKI(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.caPEM, b.caPEM) {
		t.Fatal("two clusters share a CA")
	}
	roots := x509.NewCertPool()
	roots.AddCert(a.caCert)
	if _, err := parseCert(t, b.servPEM).Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: roots}); err == nil {
		t.Error("one cluster's serving certificate verified against another's CA")
	}
}

func TestSANPrefixesAreBounded(t *testing.T) {
	if _, err := newPKI(nil, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}); err == nil || !strings.Contains(err.Error(), "/22") {
		t.Errorf("a /16 of SANs: %v", err)
	}
}

func TestKubeconfigIsMicrok8sShaped(t *testing.T) {
	p, err := newPKI(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubeconfig("https://10.213.7.101:16443", p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server: https://10.213.7.101:16443", "name: microk8s-cluster", "current-context: microk8s", "client-certificate-data:", "certificate-authority-data:"} {
		if !strings.Contains(string(kc), want) {
			t.Errorf("kubeconfig lacks %q:\n%s", want, kc)
		}
	}
}

func TestStagesCarryTheUnpullableRule(t *testing.T) {
	out, err := renderStages(DefaultUnpullableImage)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		"name: pod-unpullable", "name: pod-ready", "name: pod-complete", "name: pod-delete",
		`key: '.spec.containers | map(.image | test("^[^/]*\\.invalid(:[0-9]+)?/")) | any'`,
		"reason: ErrImagePull",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("stages lack %q", want)
		}
	}
	if strings.Contains(s, "[[") {
		t.Error("unrendered template action")
	}
	quoted, err := renderStages(`^it's\.invalid/`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(quoted), `test("^it''s\\.invalid/")`) {
		t.Errorf("a quote in the rule is not escaped for YAML:\n%s", quoted)
	}
}
