package microk8s

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// AdminCredentials are what `microk8s config` puts into the kubeconfig, PEM.
type AdminCredentials struct {
	CA, Cert, Key []byte
}

// Credentials is where the cluster CA and the admin client certificate come from.
// The lab hands in its real kube-apiserver's (FileCredentials); a host on its own
// signs one with its cluster CA (LocalCredentials).
type Credentials interface {
	Admin(ctx context.Context) (AdminCredentials, error)
}

// FileCredentials reads Dir/ca.crt, Dir/client.crt and Dir/client.key.
type FileCredentials struct{ Dir string }

// Admin implements Credentials.
func (f FileCredentials) Admin(context.Context) (AdminCredentials, error) {
	var c AdminCredentials
	var err error
	if c.CA, err = os.ReadFile(filepath.Join(f.Dir, "ca.crt")); err != nil {
		return c, err
	}
	if c.Cert, err = os.ReadFile(filepath.Join(f.Dir, "client.crt")); err != nil {
		return c, err
	}
	if c.Key, err = os.ReadFile(filepath.Join(f.Dir, "client.key")); err != nil {
		return c, err
	}
	return c, nil
}

// LocalCredentials signs an admin certificate (CN=admin, O=system:masters) with
// the host's own cluster CA, keeping it in credentials/admin.{crt,key} until the
// CA changes (a join).
type LocalCredentials struct{ Host *Host }

// Admin implements Credentials.
func (l LocalCredentials) Admin(context.Context) (AdminCredentials, error) {
	h := l.Host
	ca, err := readPair(h.snapData("certs", "ca.crt"), h.snapData("certs", "ca.key"))
	if err != nil {
		return AdminCredentials{}, fmt.Errorf("reading the cluster CA: %w", err)
	}
	certPath, keyPath := h.snapData("credentials", "admin.crt"), h.snapData("credentials", "admin.key")
	if adm, err := readPair(certPath, keyPath); err == nil && signedBy(adm.Cert, ca.Cert) {
		return AdminCredentials{CA: ca.Cert, Cert: adm.Cert, Key: adm.Key}, nil
	}
	adm, err := sign(ca, "admin", []string{"system:masters"}, nil, nil, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	if err != nil {
		return AdminCredentials{}, err
	}
	if err := writeFile(keyPath, adm.Key, 0o600); err != nil {
		return AdminCredentials{}, err
	}
	if err := writeFile(certPath, adm.Cert, 0o600); err != nil {
		return AdminCredentials{}, err
	}
	return AdminCredentials{CA: ca.Cert, Cert: adm.Cert, Key: adm.Key}, nil
}

func signedBy(certPEM, caPEM []byte) bool {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return false
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return false
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

func (h *Host) credentials() Credentials {
	if h.Credentials != nil {
		return h.Credentials
	}
	dir := h.path(CredentialsDir)
	if exists(filepath.Join(dir, "ca.crt")) {
		return FileCredentials{Dir: dir}
	}
	return LocalCredentials{Host: h}
}

// kubeconfig renders microk8s' client.config (x509, 1.28+) for server.
func kubeconfig(server string, c AdminCredentials) []byte {
	b64 := base64.StdEncoding.EncodeToString
	var b bytes.Buffer
	fmt.Fprintf(&b, `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: microk8s-cluster
contexts:
- context:
    cluster: microk8s-cluster
    user: admin
  name: microk8s
current-context: microk8s
kind: Config
preferences: {}
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
`, b64(c.CA), server, b64(c.Cert), b64(c.Key))
	return b.Bytes()
}

// writeClientConfig refreshes credentials/client.config (loopback, as the snap
// keeps it).
func (h *Host) writeClientConfig(ctx context.Context) error {
	c, err := h.credentials().Admin(ctx)
	if err != nil {
		return fmt.Errorf("reading the admin credentials: %w", err)
	}
	return writeFile(h.snapData("credentials", "client.config"), kubeconfig("https://127.0.0.1:16443", c), 0o600)
}

func (in *inv) config(args []string) int {
	h := in.h
	if exists(h.lock("clustered.lock")) {
		in.outln("This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s config on the master.")
		return 0
	}
	loopback := false
	for _, a := range args {
		switch a {
		case "-l", "--use-loopback":
			loopback = true
		case "-h", "--help":
			in.out("Usage: microk8s config [OPTIONS]\n\nRetrieve the client config, similar to microk8s kubectl config view --raw\n\nOptions:\n -h, --help          Show this help\n -l, --use-loopback  Report the cluster address using the loopback address\n                     (127.0.0.1) rather than the default interface address\n")
			return 0
		default:
			in.outln("microk8s config: invalid option -- " + a)
			return 1
		}
	}
	c, err := h.credentials().Admin(in.ctx)
	if err != nil {
		in.errln("error: " + err.Error())
		return 1
	}
	ip := h.defaultIP().String()
	if loopback {
		ip = "127.0.0.1"
	}
	in.out(string(kubeconfig("https://"+ip+":16443", c)))
	in.outln("")
	return 0
}

// kubectl runs the real kubectl with the kubeconfig `microk8s config` prints,
// written to credentials/kubectl.config (KUBECONFIG).
func (in *inv) kubectl(args []string) int {
	h := in.h
	if exists(h.lock("clustered.lock")) {
		in.outln("This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s kubectl on the master.")
		return 0
	}
	if in.exitIfStopped() {
		return 1
	}
	c, err := h.credentials().Admin(in.ctx)
	if err != nil {
		in.errln("error: " + err.Error())
		return 1
	}
	kc := h.snapData("credentials", "kubectl.config")
	if err := writeFile(kc, kubeconfig("https://"+h.defaultIP().String()+":16443", c), 0o600); err != nil {
		in.errln("error: " + err.Error())
		return 1
	}
	bin := h.Kubectl
	if bin == "" {
		bin = h.path(KubectlPath)
	}
	cmd := exec.CommandContext(in.ctx, bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in.io.In, in.io.Out, in.io.Err
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kc)
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		in.errln(fmt.Sprintf("error: running %s: %v", bin, err))
		return 127
	}
	return 0
}
