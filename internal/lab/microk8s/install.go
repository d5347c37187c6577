package microk8s

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// release is what the store serves on a track.
type release struct {
	Version  string
	Revision int
}

// releases are the microk8s tracks the fake store knows; "latest" is 1.32.
var releases = map[string]release{
	"1.26": {"v1.26.15", 6876}, "1.27": {"v1.27.16", 7071}, "1.28": {"v1.28.15", 7229},
	"1.29": {"v1.29.15", 7661}, "1.30": {"v1.30.14", 8010}, "1.31": {"v1.31.13", 8148},
	"1.32": {"v1.32.9", 8394}, "1.33": {"v1.33.5", 8460}, "latest": {"v1.32.9", 8394},
}

// snapInfo is the fake snapd's record of the installed snap.
type snapInfo struct {
	Channel  string `yaml:"channel"`
	Version  string `yaml:"version"`
	Revision int    `yaml:"revision"`
	Held     bool   `yaml:"held"`
}

func (h *Host) snapInfoPath() string { return h.path("/var/lib/snapd/homelab-fake/microk8s.yaml") }

func (h *Host) loadSnap() (*snapInfo, bool) {
	b, err := os.ReadFile(h.snapInfoPath())
	if err != nil {
		return nil, false
	}
	s := &snapInfo{}
	if yaml.Unmarshal(b, s) != nil {
		return nil, false
	}
	return s, true
}

func (h *Host) saveSnap(s *snapInfo) error {
	b, _ := yaml.Marshal(s)
	return writeFile(h.snapInfoPath(), b, 0o644)
}

// Installed says whether microk8s is installed on the host.
func (h *Host) Installed() bool {
	_, ok := h.loadSnap()
	return ok
}

// resolveChannel turns "1.30", "1.30/stable", "latest/edge" or "" into a
// tracking name and its release.
func resolveChannel(ch string) (string, release, error) {
	if ch == "" {
		ch = "latest/stable"
	}
	track, risk, ok := strings.Cut(ch, "/")
	if !ok {
		switch ch {
		case "stable", "candidate", "beta", "edge":
			track, risk = "latest", ch
		default:
			risk = "stable"
		}
	}
	switch risk {
	case "stable", "candidate", "beta", "edge":
	default:
		return "", release{}, fmt.Errorf("invalid risk in channel name: %s", ch)
	}
	r, ok := releases[track]
	if !ok {
		return "", release{}, fmt.Errorf("requested channel %q is not available", ch)
	}
	return track + "/" + risk, r, nil
}

// Default service arguments, shortened from the snap's default-args.
var defaultArgs = map[string]string{
	"kube-apiserver": `--cert-dir=${SNAP_DATA}/certs
--service-cluster-ip-range=10.152.183.0/24
--authorization-mode=RBAC,Node
--service-account-key-file=${SNAP_DATA}/certs/serviceaccount.key
--client-ca-file=${SNAP_DATA}/certs/ca.crt
--tls-cert-file=${SNAP_DATA}/certs/server.crt
--tls-private-key-file=${SNAP_DATA}/certs/server.key
--secure-port=16443
--etcd-servers=unix://${SNAP_DATA}/var/kubernetes/backend/kine.sock:12379
--allow-privileged=true
--service-account-issuer='https://kubernetes.default.svc'
--service-account-signing-key-file=${SNAP_DATA}/certs/serviceaccount.key
--kubelet-preferred-address-types=InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP
`,
	"kubelet": `--kubeconfig=${SNAP_DATA}/credentials/kubelet.config
--cert-dir=${SNAP_DATA}/certs
--client-ca-file=${SNAP_DATA}/certs/ca.crt
--anonymous-auth=false
--root-dir=${SNAP_COMMON}/var/lib/kubelet
--fail-swap-on=false
--eviction-hard="memory.available<100Mi,nodefs.available<1Gi,imagefs.available<1Gi"
--container-runtime-endpoint=${SNAP_COMMON}/run/containerd.sock
--containerd=${SNAP_COMMON}/run/containerd.sock
--node-labels="microk8s.io/cluster=true,node.kubernetes.io/microk8s-controlplane=microk8s-controlplane"
--authentication-token-webhook=true
--read-only-port=0
`,
	"kube-proxy": `--kubeconfig=${SNAP_DATA}/credentials/proxy.config
--cluster-cidr=10.1.0.0/16
--healthz-bind-address=127.0.0.1
`,
	"kube-controller-manager": `--kubeconfig=${SNAP_DATA}/credentials/controller.config
--service-account-private-key-file=${SNAP_DATA}/certs/serviceaccount.key
--root-ca-file=${SNAP_DATA}/certs/ca.crt
--cluster-signing-cert-file=${SNAP_DATA}/certs/ca.crt
--cluster-signing-key-file=${SNAP_DATA}/certs/ca.key
--use-service-account-credentials
--leader-elect-lease-duration=60s
--leader-elect-renew-deadline=30s
`,
	"kube-scheduler": `--kubeconfig=${SNAP_DATA}/credentials/scheduler.config
--leader-elect-lease-duration=60s
--leader-elect-renew-deadline=30s
`,
	"kubelite": `--scheduler-args-file=$SNAP_DATA/args/kube-scheduler
--controller-manager-args-file=$SNAP_DATA/args/kube-controller-manager
--proxy-args-file=$SNAP_DATA/args/kube-proxy
--kubelet-args-file=$SNAP_DATA/args/kubelet
--apiserver-args-file=$SNAP_DATA/args/kube-apiserver
--kubeconfig-file=$SNAP_DATA/credentials/client.config
--start-control-plane=true
`,
	"containerd": `--config ${SNAP_DATA}/args/containerd.toml
--root ${SNAP_COMMON}/var/lib/containerd
--state ${SNAP_COMMON}/run/containerd
--address ${SNAP_COMMON}/run/containerd.sock
`,
	"containerd-env": `ulimit -n 65536 || true
ulimit -l 16384 || true
`,
	"k8s-dqlite": `--storage-dir=${SNAP_DATA}/var/kubernetes/backend/
--listen=unix://${SNAP_DATA}/var/kubernetes/backend/kine.sock:12379
`,
	"cluster-agent": `--bind 0.0.0.0:25000
--keyfile "${SNAP_DATA}/certs/server.key"
--certfile "${SNAP_DATA}/certs/server.crt"
--timeout 240
`,
	"kubectl": `--kubeconfig=${SNAP_DATA}/credentials/client.config
`,
	"apiserver-proxy": `--traefik-config ${SNAP_DATA}/args/traefik/traefik.yaml
--kubeconfig ${SNAP_DATA}/credentials/kubelet.config
`,
}

// defaultHostsToml are the registries the snap configures for containerd.
var defaultHostsToml = map[string]string{
	"docker.io":       "server = \"https://docker.io\"\n\n[host.\"https://registry-1.docker.io\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
	"localhost:32000": "server = \"http://localhost:32000\"\n\n[host.\"http://localhost:32000\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
}

// install lays out the snap as its install hook does, applies the launch
// configuration's pre-init part and starts the agent. On error nothing stays.
func (h *Host) install(ctx context.Context, tracking string, rel release) (err error) {
	var launch []byte
	for _, p := range h.launchSources() {
		if b, rerr := os.ReadFile(p); rerr == nil {
			launch = b
			break
		}
	}
	if launch == nil {
		launch = []byte(defaultLaunchConfig)
	}
	parts, err := ParseLaunchConfig(launch)
	if err != nil {
		return fmt.Errorf("Error: failed to parse config file: %w", err)
	}
	defer func() {
		if err != nil {
			h.wipe()
		}
	}()
	rev := fmt.Sprint(rel.Revision)
	snapDir := h.path("/snap/microk8s")
	if err := os.MkdirAll(filepath.Join(snapDir, rev, "bin"), 0o755); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(snapDir, rev, "bin", "helm"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(snapDir, rev, "meta", "snap.yaml"), fmt.Appendf(nil, "name: microk8s\nversion: %s\nconfinement: classic\n", rel.Version), 0o644); err != nil {
		return err
	}
	if err := os.Symlink(rev, filepath.Join(snapDir, "current")); err != nil {
		return err
	}
	dataDir := h.path("/var/snap/microk8s")
	if err := os.MkdirAll(filepath.Join(dataDir, rev), 0o755); err != nil {
		return err
	}
	if err := os.Symlink(rev, filepath.Join(dataDir, "current")); err != nil {
		return err
	}
	for _, d := range []string{"var/lock", "var/kubernetes/backend", "credentials", "certs", "args/certs.d", "var/tmp"} {
		if err := os.MkdirAll(h.snapData(d), 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(h.snapCommon("etc", "launcher"), 0o755); err != nil {
		return err
	}
	for name, content := range defaultArgs {
		if err := writeFile(h.snapData("args", name), []byte(content), 0o660); err != nil {
			return err
		}
	}
	for reg, toml := range defaultHostsToml {
		if err := writeFile(h.snapData("args", "certs.d", reg, "hosts.toml"), []byte(toml), 0o644); err != nil {
			return err
		}
	}
	if err := h.writeCSRConf(nil); err != nil {
		return err
	}
	if err := writeFile(h.snapCommon("etc", "launcher", "install.yaml"), launch, 0o644); err != nil {
		return err
	}
	if _, err := h.applyLaunch(ctx, parts, true); err != nil {
		return fmt.Errorf("Error: failed to apply configuration: %w", err)
	}
	if err := h.initCluster(); err != nil {
		return err
	}
	if err := touch(h.lock("ha-cluster")); err != nil {
		return err
	}
	if err := h.saveSnap(&snapInfo{Channel: tracking, Version: rel.Version, Revision: rel.Revision}); err != nil {
		return err
	}
	if err := os.MkdirAll(h.path("/snap/bin"), 0o755); err != nil {
		return err
	}
	for _, name := range []string{"microk8s", "microk8s.kubectl", "microk8s.status", "microk8s.config", "microk8s.enable", "microk8s.disable"} {
		_ = os.Remove(h.path("/snap/bin/" + name))
		if err := os.Symlink("/usr/bin/snap", h.path("/snap/bin/"+name)); err != nil {
			return err
		}
	}
	return h.enableAgentUnit(ctx)
}

// initCluster makes this host a fresh single-node cluster: new CA, server,
// dqlite and service-account keys, one member at 127.0.0.1:19001.
func (h *Host) initCluster() error {
	ca, err := newCA()
	if err != nil {
		return err
	}
	cluster, err := sign(ca, "k8s", nil, []net.IP{net.ParseIP("127.0.0.1")}, []string{h.hostname()}, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
	if err != nil {
		return err
	}
	_, saKey, err := newKey()
	if err != nil {
		return err
	}
	if err := h.writeClusterSecrets(string(ca.Cert), string(ca.Key), string(saKey), false); err != nil {
		return err
	}
	if err := h.issueServerCert(); err != nil {
		return err
	}
	info := Info{Address: "127.0.0.1:" + dqlitePort, ID: randomID(), Role: RoleVoter}
	st := &State{
		ClusterID:         randomHex(8),
		Secret:            randomHex(16),
		Version:           1,
		Origin:            info.Address,
		CA:                string(ca.Cert),
		CAKey:             string(ca.Key),
		ServiceAccountKey: string(saKey),
		ClusterCert:       string(cluster.Cert),
		ClusterKey:        string(cluster.Key),
		Members:           []Member{{Address: info.Address, ID: info.ID, Role: RoleVoter, Hostname: h.hostname()}},
		Nodes:             []Node{{Name: h.hostname(), IP: h.defaultIP().String()}},
		Addons:            map[string][]string{},
	}
	if err := os.MkdirAll(h.backend(), 0o755); err != nil {
		return err
	}
	if err := writeFile(h.backend("cluster.crt"), cluster.Cert, 0o600); err != nil {
		return err
	}
	if err := writeFile(h.backend("cluster.key"), cluster.Key, 0o600); err != nil {
		return err
	}
	if err := h.saveInfo(info); err != nil {
		return err
	}
	if err := h.saveState(st); err != nil {
		return err
	}
	return h.writeClientConfig(context.Background())
}

// writeClusterSecrets writes the CA, its key and the service-account key,
// keeping the old ones as *.backup when backup is set (a join).
func (h *Host) writeClusterSecrets(ca, caKey, saKey string, backup bool) error {
	for _, f := range []struct{ name, data string }{{"ca.crt", ca}, {"ca.key", caKey}, {"serviceaccount.key", saKey}} {
		p := h.snapData("certs", f.name)
		if backup {
			if err := copyBackup(p); err != nil {
				return err
			}
		}
		if err := writeFile(p, []byte(f.data), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// issueServerCert signs certs/server.crt with certs/ca.crt for the host's
// addresses and the csr.conf.template SANs.
func (h *Host) issueServerCert() error {
	ca, err := readPair(h.snapData("certs", "ca.crt"), h.snapData("certs", "ca.key"))
	if err != nil {
		return fmt.Errorf("reading the CA: %w", err)
	}
	ips, dns := h.extraSANs()
	for _, ip := range h.allIPs() {
		ips = append(ips, net.ParseIP(ip.String()))
	}
	if d := net.ParseIP(h.defaultIP().String()); d != nil {
		ips = append(ips, d)
	}
	dns = append(dns, h.hostname())
	srv, err := sign(ca, "127.0.0.1", []string{"Canonical"}, ips, dns, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
	if err != nil {
		return err
	}
	if err := writeFile(h.snapData("certs", "server.key"), srv.Key, 0o600); err != nil {
		return err
	}
	return writeFile(h.snapData("certs", "server.crt"), srv.Cert, 0o600)
}

// unitFile is the agent's systemd unit, as snapd would write it.
func (h *Host) unitFile() string {
	rev := "current"
	if s, ok := h.loadSnap(); ok {
		rev = fmt.Sprint(s.Revision)
	}
	return fmt.Sprintf(`[Unit]
# Auto-generated, DO NOT EDIT (homelab lab fake of snapd)
Description=Service for snap application microk8s.daemon-cluster-agent
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/bin/snap run microk8s.daemon-cluster-agent
SyslogIdentifier=microk8s.daemon-cluster-agent
Restart=always
WorkingDirectory=/var/snap/microk8s/%s
TimeoutStopSec=30
Type=simple

[Install]
WantedBy=multi-user.target
`, rev)
}

func (h *Host) unitPath() string { return h.path("/etc/systemd/system/" + AgentUnit) }

func (h *Host) enableAgentUnit(ctx context.Context) error {
	if err := writeFile(h.unitPath(), []byte(h.unitFile()), 0o644); err != nil {
		return err
	}
	if out, err := h.runner().Run(ctx, "systemctl", "daemon-reload"); err != nil {
		return fmt.Errorf("systemctl daemon-reload: %v: %s", err, out)
	}
	if out, err := h.runner().Run(ctx, "systemctl", "enable", "--now", AgentUnit); err != nil {
		return fmt.Errorf("systemctl enable --now %s: %v: %s", AgentUnit, err, out)
	}
	return nil
}

// wipe removes what install laid out (snap remove, a failed install).
func (h *Host) wipe() {
	_ = os.RemoveAll(h.path("/var/snap/microk8s"))
	_ = os.RemoveAll(h.path("/snap/microk8s"))
	_ = os.Remove(h.snapInfoPath())
	links, _ := filepath.Glob(h.path("/snap/bin/microk8s*"))
	for _, l := range links {
		_ = os.Remove(l)
	}
}

func (h *Host) remove(ctx context.Context) error {
	var errs []error
	if _, err := h.runner().Run(ctx, "systemctl", "disable", "--now", AgentUnit); err != nil {
		errs = append(errs, err)
	}
	if err := os.Remove(h.unitPath()); err != nil && !os.IsNotExist(err) {
		errs = append(errs, err)
	}
	_, _ = h.runner().Run(ctx, "systemctl", "daemon-reload")
	h.wipe()
	return errors.Join(errs...)
}
