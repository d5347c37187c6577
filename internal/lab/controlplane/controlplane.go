// Package controlplane runs a real Kubernetes control plane for the lab as processes
// on the machine: etcd (Debian's etcd-server), kube-apiserver, kube-controller-manager
// and kube-scheduler built from k8s.io/kubernetes, and kwok simulating one kubelet per
// lab host. What is simulated: kubelets (kwok stages decide pod status, nothing runs
// in a pod) and the microk8s hostpath storage provisioner (a small loop in this
// package that creates the PV and the directory on the node).
//
// Each cluster has its own CA; the API server's serving certificate is signed by it
// and names the given addresses, so a kubeconfig for https://<node-ip>:16443 with
// that CA verifies as on microk8s (the hosts forward :16443 to the API server).
package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	_ "embed"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// DefaultUnpullableImage is the rule for images a lab kubelet cannot pull: those whose
// registry host is in the reserved .invalid domain (e.g. registry.invalid/app:1).
const DefaultUnpullableImage = `^[^/]*\.invalid(:[0-9]+)?/`

// KwokNodeAnnotation marks the nodes kwok simulates.
const KwokNodeAnnotation = "kwok.x-k8s.io/node"

// ReadyTimeout bounds a control plane start.
const ReadyTimeout = 90 * time.Second

// Node is one simulated Kubernetes node: a lab host.
type Node struct {
	Name   string
	IP     netip.Addr
	Labels map[string]string
}

// HostDirs creates and removes directories on lab hosts, for the storage provisioner.
type HostDirs interface {
	MakeDir(ctx context.Context, node, path string) error
	RemoveDir(ctx context.Context, node, path string) error
}

// Options configure a control plane.
type Options struct {
	// Dir holds certificates, etcd data, logs and pids; default a new temporary dir.
	Dir string
	// BindAddress is where the API server listens; default 127.0.0.1. For hosts to
	// reach it, use the lab network's gateway (the machine's address on it).
	BindAddress netip.Addr
	// Port is the API server port; default a free one. Reset keeps it.
	Port int
	// SANs and SANPrefixes (every address of each, at most a /22) go into the serving
	// certificate, besides 127.0.0.1, the bind address and the service IP.
	SANs        []netip.Addr
	SANPrefixes []netip.Prefix
	// Nodes are registered at start and after Reset.
	Nodes []Node
	// HostDirs makes the provisioner's directories; nil: PVs are created without one.
	HostDirs HostDirs
	// UnpullableImage is a regular expression: pods with a matching image report
	// ErrImagePull. Default DefaultUnpullableImage.
	UnpullableImage string
	// Detach leaves the processes running when this process exits (scripts/lab); the
	// provisioner does not run then: call RunProvisioner from a long-lived process.
	Detach bool
	// Log receives provisioner messages; nil discards them.
	Log io.Writer
}

// ControlPlane is a running lab cluster.
type ControlPlane struct {
	opts     Options
	tools    Tools
	bind     netip.Addr
	port     int
	etcdPort int
	peerPort int

	mu       sync.Mutex
	pki      *pki
	procs    []*proc
	client   *kubernetes.Clientset
	stopProv context.CancelFunc
	provDone chan struct{}
}

// Start starts a control plane and returns once the API server is ready, the default
// service account exists and the nodes are registered (~10 s).
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	tools, err := FindTools()
	if err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		if opts.Dir, err = os.MkdirTemp("", "homelab-controlplane-"); err != nil {
			return nil, fmt.Errorf("creating control plane dir: %w", err)
		}
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", opts.Dir, err)
	}
	if opts.UnpullableImage == "" {
		opts.UnpullableImage = DefaultUnpullableImage
	}
	if _, err := regexp.Compile(opts.UnpullableImage); err != nil {
		return nil, fmt.Errorf("unpullable image rule: %w", err)
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	cp := &ControlPlane{opts: opts, tools: tools, bind: opts.BindAddress, port: opts.Port}
	if !cp.bind.IsValid() {
		cp.bind = netip.MustParseAddr("127.0.0.1")
	}
	// A free port is only free until someone binds it: when another process
	// takes one between the pick and the start, pick again.
	for attempt := 1; ; attempt++ {
		if opts.Port == 0 {
			if cp.port, err = freePort(cp.bind.String()); err != nil {
				return nil, err
			}
		}
		if cp.etcdPort, err = freePort("127.0.0.1"); err != nil {
			return nil, err
		}
		if cp.peerPort, err = freePort("127.0.0.1"); err != nil {
			return nil, err
		}
		err = cp.start(ctx)
		if err == nil {
			return cp, nil
		}
		cp.stopProcs()
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return nil, fmt.Errorf("starting the lab control plane (logs in %s): %w", filepath.Join(opts.Dir, "logs"), err)
		}
		if err := os.RemoveAll(filepath.Join(opts.Dir, "etcd")); err != nil {
			return nil, fmt.Errorf("starting the lab control plane: %w", err)
		}
	}
}

// start brings up a fresh cluster: new PKI, empty etcd unless data exists.
func (cp *ControlPlane) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	ips := append([]netip.Addr{cp.bind}, cp.opts.SANs...)
	for _, n := range cp.opts.Nodes {
		ips = append(ips, n.IP)
	}
	p, err := newPKI(ips, cp.opts.SANPrefixes)
	if err != nil {
		return err
	}
	dir := cp.opts.Dir
	pkiDir := filepath.Join(dir, "pki")
	if err := p.write(pkiDir); err != nil {
		return err
	}
	kc, err := kubeconfig(cp.URL(), p)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "admin.kubeconfig"), kc, 0o600); err != nil {
		return fmt.Errorf("writing admin kubeconfig: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), p.caPEM, 0o644); err != nil {
		return fmt.Errorf("writing CA: %w", err)
	}
	stages, err := renderStages(cp.opts.UnpullableImage)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "kwok.yaml"), stages, 0o644); err != nil {
		return fmt.Errorf("writing kwok stages: %w", err)
	}
	cfg, err := restConfig(cp.URL(), p)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("making client: %w", err)
	}
	cp.mu.Lock()
	cp.pki, cp.client = p, client
	cp.mu.Unlock()

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(cp.etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(cp.peerPort)
	if err := cp.run("etcd", cp.tools.Etcd,
		"--name=lab", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=lab="+peerURL, "--log-level=warn",
	); err != nil {
		return err
	}
	if err := cp.waitFor(ctx, "etcd", func(ctx context.Context) error {
		return httpOK(ctx, etcdURL+"/health")
	}); err != nil {
		return err
	}
	apiArgs := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=" + cp.bind.String(), "--secure-port=" + strconv.Itoa(cp.port),
		"--tls-cert-file=" + filepath.Join(pkiDir, "server.crt"),
		"--tls-private-key-file=" + filepath.Join(pkiDir, "server.key"),
		"--client-ca-file=" + filepath.Join(pkiDir, "ca.crt"),
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(pkiDir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(pkiDir, "sa.key"),
		"--service-cluster-ip-range=" + serviceRange,
		"--allow-privileged=true", "--profiling=false",
		// The watch cache needs etcd's watch progress requests (etcd 3.5+) for the
		// streaming lists clients ask for; Debian's etcd 3.4 lacks them and watches of
		// kwok and the controllers then fail and retry with growing backoff, delaying
		// pods by tens of seconds. Without the cache every watch is served by etcd.
		"--watch-cache=false",
		"--cert-dir=" + pkiDir,
	}
	if !cp.bind.IsLoopback() {
		apiArgs = append(apiArgs, "--advertise-address="+cp.bind.String())
	}
	if err := cp.run("kube-apiserver", cp.tools.APIServer, apiArgs...); err != nil {
		return err
	}
	if err := cp.waitFor(ctx, "kube-apiserver", func(ctx context.Context) error {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return err
		}
		if string(body) != "ok" {
			return fmt.Errorf("readyz: %s", body)
		}
		return nil
	}); err != nil {
		return err
	}
	kcPath := filepath.Join(dir, "admin.kubeconfig")
	if err := cp.run("kube-controller-manager", cp.tools.ControllerManager,
		"--kubeconfig="+kcPath, "--controllers=*,-nodeipam", "--leader-elect=false",
		"--service-account-private-key-file="+filepath.Join(pkiDir, "sa.key"),
		"--root-ca-file="+filepath.Join(pkiDir, "ca.crt"),
		"--secure-port=0", "--profiling=false",
	); err != nil {
		return err
	}
	if err := cp.run("kube-scheduler", cp.tools.Scheduler,
		"--kubeconfig="+kcPath, "--leader-elect=false", "--secure-port=0", "--profiling=false",
	); err != nil {
		return err
	}
	if err := cp.run("kwok", cp.tools.Kwok,
		"--kubeconfig="+kcPath, "--config="+filepath.Join(dir, "kwok.yaml"),
		"--manage-nodes-with-annotation-selector="+KwokNodeAnnotation+"=fake",
		"--cidr=10.1.0.0/16",
		// Without leases the node lifecycle controller marks kwok's nodes unreachable
		// after its grace period, taints them and new pods stop being scheduled.
		"--node-lease-duration-seconds=40",
	); err != nil {
		return err
	}
	if err := ensureStorageClass(ctx, client); err != nil {
		return err
	}
	for _, n := range cp.opts.Nodes {
		if err := cp.AddNode(ctx, n); err != nil {
			return err
		}
	}
	if err := cp.waitFor(ctx, "the default service account", func(ctx context.Context) error {
		_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return err
	}
	if !cp.opts.Detach {
		provCtx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		cp.mu.Lock()
		cp.stopProv, cp.provDone = stop, done
		cp.mu.Unlock()
		go func() {
			defer close(done)
			_ = RunProvisioner(provCtx, client, cp.opts.HostDirs, cp.opts.Log)
		}()
	}
	return nil
}

func (cp *ControlPlane) run(name, bin string, args ...string) error {
	p, err := spawn(cp.opts.Dir, name, bin, cp.opts.Detach, args...)
	if err != nil {
		return err
	}
	cp.mu.Lock()
	cp.procs = append(cp.procs, p)
	cp.mu.Unlock()
	return nil
}

// waitFor polls check until it succeeds, failing early when a process died.
func (cp *ControlPlane) waitFor(ctx context.Context, what string, check func(context.Context) error) error {
	var last error
	for {
		cp.mu.Lock()
		procs := append([]*proc(nil), cp.procs...)
		cp.mu.Unlock()
		for _, p := range procs {
			if p.exited() {
				return p.failure()
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// URL is the API server's address as the machine reaches it.
func (cp *ControlPlane) URL() string {
	return "https://" + cp.APIAddress().String()
}

// APIAddress is the API server's listening address: the target hosts forward to.
func (cp *ControlPlane) APIAddress() netip.AddrPort {
	return netip.AddrPortFrom(cp.bind, uint16(cp.port))
}

// Dir is the control plane's state directory.
func (cp *ControlPlane) Dir() string { return cp.opts.Dir }

// CAPEM returns the current cluster CA certificate; Reset changes it.
func (cp *ControlPlane) CAPEM() []byte {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return bytes.Clone(cp.pki.caPEM)
}

// Kubeconfig returns an admin kubeconfig (client certificate in system:masters, as
// microk8s 1.28+ hands out) for server, e.g. "https://10.213.7.101:16443".
func (cp *ControlPlane) Kubeconfig(server string) ([]byte, error) {
	cp.mu.Lock()
	p := cp.pki
	cp.mu.Unlock()
	return kubeconfig(server, p)
}

// RESTConfig is the admin client configuration for server.
func (cp *ControlPlane) RESTConfig(server string) (*rest.Config, error) {
	cp.mu.Lock()
	p := cp.pki
	cp.mu.Unlock()
	return restConfig(server, p)
}

// Clientset returns an admin client for the API server; Reset replaces it.
func (cp *ControlPlane) Clientset() *kubernetes.Clientset {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.client
}

func kubeconfig(server string, p *pki) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["microk8s-cluster"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: p.caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: p.admPEM, ClientKeyData: p.admKey}
	cfg.Contexts["microk8s"] = &clientcmdapi.Context{Cluster: "microk8s-cluster", AuthInfo: "admin"}
	cfg.CurrentContext = "microk8s"
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}
	return b, nil
}

func restConfig(server string, p *pki) (*rest.Config, error) {
	kc, err := kubeconfig(server, p)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

//go:embed stages.yaml.tmpl
var stagesTemplate string

var stagesTmpl = template.Must(template.New("stages").Delims("[[", "]]").Parse(stagesTemplate))

// renderStages renders the kwok pod stages with the unpullable-image rule as a jq
// query over the pod's containers.
func renderStages(unpullable string) ([]byte, error) {
	re, err := json.Marshal(unpullable)
	if err != nil {
		return nil, err
	}
	query := `.spec.containers | map(.image | test(` + string(re) + `)) | any`
	var b bytes.Buffer
	if err := stagesTmpl.Execute(&b, map[string]string{
		"UnpullableImage": unpullable,
		"UnpullableQuery": strings.ReplaceAll(query, "'", "''"),
	}); err != nil {
		return nil, fmt.Errorf("rendering kwok stages: %w", err)
	}
	return b.Bytes(), nil
}

// AddNode registers a simulated node for a lab host; kwok makes it Ready.
func (cp *ControlPlane) AddNode(ctx context.Context, n Node) error {
	labels := map[string]string{
		"kubernetes.io/hostname": n.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		"beta.kubernetes.io/os":  "linux",
	}
	for k, v := range n.Labels {
		labels[k] = v
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("4"),
		corev1.ResourceMemory: resource.MustParse("16Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        n.Name,
			Labels:      labels,
			Annotations: map[string]string{KwokNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
		},
		Status: corev1.NodeStatus{
			Capacity:    res,
			Allocatable: res,
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: n.IP.String()},
				{Type: corev1.NodeHostName, Address: n.Name},
			},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion: KubeVersion, OperatingSystem: "linux", Architecture: "amd64",
				OSImage: "Debian GNU/Linux 12 (bookworm)", ContainerRuntimeVersion: "containerd://1.7.0",
			},
		},
	}
	_, err := cp.Clientset().CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("registering node %s: %w", n.Name, err)
	}
	return nil
}

// RemoveNode deletes a node object (microk8s remove-node).
func (cp *ControlPlane) RemoveNode(ctx context.Context, name string) error {
	err := cp.Clientset().CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing node %s: %w", name, err)
	}
	return nil
}

// Reset rebuilds the cluster as after a total loss: the processes stop, etcd's data
// is deleted, a new CA and certificates are made, and everything starts again on the
// same addresses with the storage class and Options.Nodes registered. Clients made
// before trust the old CA: take new ones from Clientset and Kubeconfig.
func (cp *ControlPlane) Reset(ctx context.Context) error {
	cp.stopProcs()
	for _, d := range []string{"etcd", "pki"} {
		if err := os.RemoveAll(filepath.Join(cp.opts.Dir, d)); err != nil {
			return fmt.Errorf("resetting the control plane: %w", err)
		}
	}
	if err := cp.start(ctx); err != nil {
		cp.stopProcs()
		return fmt.Errorf("resetting the control plane (logs in %s): %w", filepath.Join(cp.opts.Dir, "logs"), err)
	}
	return nil
}

func (cp *ControlPlane) stopProcs() {
	cp.mu.Lock()
	stop, done := cp.stopProv, cp.provDone
	procs := cp.procs
	cp.stopProv, cp.provDone, cp.procs = nil, nil, nil
	cp.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].kill(10 * time.Second)
	}
	_ = os.Remove(filepath.Join(cp.opts.Dir, pidFile))
}

// Stop stops every process. The state directory stays; remove it with Close.
func (cp *ControlPlane) Stop() {
	cp.stopProcs()
}

// Close stops every process and removes the state directory.
func (cp *ControlPlane) Close() error {
	cp.stopProcs()
	if err := os.RemoveAll(cp.opts.Dir); err != nil {
		return fmt.Errorf("removing %s: %w", cp.opts.Dir, err)
	}
	return nil
}
