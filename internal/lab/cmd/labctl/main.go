// Command labctl runs a lab for a person: scripts/lab up|down|status|demo (and
// bench, bench-engine) build and run it. up creates the hosts and a detached control plane, writes the
// state under -state and a Pulumi stack file; down removes exactly what up made.
// reinstall, stop, start, partition and heal do to one host of that lab what the
// scenario API (internal/lab/hosts) does to a test's hosts.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/homeslice/homelab/internal/lab/controlplane"
	"github.com/homeslice/homelab/internal/lab/hosts"
)

const usage = `usage: labctl <command> [flags]

commands:
  up       create a lab: hosts, control plane, Pulumi stack file
  down     remove everything up made
  status   list the hosts (running, stopped, partitioned) and the control plane
  reinstall NODE  a dead disk: the host comes back bare, new machine-id and host key
  stop NODE       cut the host's power; the disk stays
  start NODE      power it on again
  partition NODE  pull its network cable
  heal NODE       plug it back in
  demo     a lab, then the home stack through the real engine end to end
  bench    time lab starts and measure host memory, as a table
  bench-engine  time up, no-op preview and no-op up per lab size, count SSH logins
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "up":
		err = up(ctx, args)
	case "down":
		err = down(ctx, args)
	case "status":
		err = status(ctx, args)
	case "demo":
		err = demo(ctx, args)
	case "bench":
		err = bench(ctx, args)
	case "bench-engine":
		err = benchEngine(ctx, args)
	case "reinstall", "stop", "start", "partition", "heal":
		err = hostCommand(ctx, cmd, args)
	case "provision":
		err = provision(ctx, args)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "labctl %s: %v\n", cmd, err)
		if cmd == "up" {
			fmt.Fprintln(os.Stderr, "scripts/lab down removes whatever was made")
		}
		os.Exit(1)
	}
}

// state is what up records for down and status.
type state struct {
	Lab       string   `json:"lab"`
	Subnet    string   `json:"subnet"`
	APIServer string   `json:"apiServer"`
	StackFile string   `json:"stackFile"`
	Hosts     []string `json:"hosts"`
	// Partitioned are the hosts scripts/lab partition cut off and heal did not
	// reconnect: a stopped host's partition is nowhere else, and start applies it.
	Partitioned []string `json:"partitioned,omitempty"`
}

func stateFlags(fs *flag.FlagSet) *string {
	return fs.String("state", ".lab", "state directory (keys, kubeconfig, control plane)")
}

func readState(dir string) (state, error) {
	var s state
	b, err := os.ReadFile(filepath.Join(dir, "lab.json"))
	if errors.Is(err, os.ErrNotExist) {
		return s, fmt.Errorf("no lab is up: nothing recorded in %s; scripts/lab up makes one", dir)
	}
	if err != nil {
		return s, fmt.Errorf("reading the lab recorded in %s: %w", dir, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("reading %s: %w", filepath.Join(dir, "lab.json"), err)
	}
	return s, nil
}

// attach finds the lab recorded in dir and its hosts as Docker has them, with the
// installer key when up got as far as writing it (without it a host can be neither
// reinstalled nor waited for), and the recorded partitions of stopped hosts.
func attach(ctx context.Context, dir string) (state, *hosts.Network, error) {
	st, err := readState(dir)
	if err != nil {
		return st, nil, err
	}
	key, err := os.ReadFile(filepath.Join(dir, "id_ed25519"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return st, nil, fmt.Errorf("reading the lab's ssh key: %w", err)
	}
	n, err := hosts.Attach(ctx, st.Lab, key)
	if err != nil {
		return st, nil, err
	}
	for _, name := range st.Partitioned {
		if h := n.Host(name); h != nil && !h.Partitioned() && !h.Running(ctx) {
			if err := h.Partition(ctx); err != nil { // only marks it: applied at Start
				return st, nil, err
			}
		}
	}
	return st, n, nil
}

func up(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	dir := stateFlags(fs)
	count := fs.Int("hosts", 3, "number of hosts")
	stack := fs.String("stack", string(hosts.Netplan), "network stack of the hosts: netplan, networkd, networkmanager or ifupdown")
	stackFile := fs.String("stack-file", "Pulumi.lab.yaml", "Pulumi stack file to write")
	_ = fs.Parse(args)
	l, err := createLab(ctx, *dir, *count, hosts.Stack(*stack), *stackFile)
	if err != nil {
		return err
	}
	keyFile := filepath.Join(l.dir, "id_ed25519")
	fmt.Printf("lab %s up in %v: %d hosts on %s, API server %s\n", l.net.Lab(), l.took.Round(time.Second), len(l.hosts), l.net.Subnet(), l.cp.URL())
	fmt.Printf("wrote %s; the SSH key is a secret, set it with:\n", *stackFile)
	fmt.Printf("  pulumi config set --secret -s lab homelab:sshPrivateKey -- < %s\n", keyFile)
	fmt.Printf("ssh: ssh -i %s %s@%s    kubectl: KUBECONFIG=%s\n", keyFile, l.net.User(), l.hosts[0].IP(), filepath.Join(l.dir, "kubeconfig"))
	return nil
}

// madeLab is a lab createLab started and recorded.
type madeLab struct {
	dir   string // absolute state directory
	net   *hosts.Network
	hosts []*hosts.Host
	cp    *controlplane.ControlPlane
	took  time.Duration
}

// createLab starts count hosts and a detached control plane with its provisioner,
// recording everything in dir as it is made so that down removes it, also after
// a failure; it writes the SSH key, an admin kubeconfig and the stack file.
func createLab(ctx context.Context, dir string, count int, stack hosts.Stack, stackFile string) (*madeLab, error) {
	if _, err := controlplane.FindTools(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "lab.json")); err == nil {
		return nil, fmt.Errorf("a lab is already up (state in %s): run scripts/lab down first", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	n, err := hosts.NewNetwork(ctx, hosts.Options{Log: os.Stderr})
	if err != nil {
		return nil, err
	}
	st := state{Lab: n.Lab(), Subnet: n.Subnet().String(), StackFile: stackFile}
	// Record the lab before anything else exists, so that down can clean up a failed up.
	if err := writeState(abs, st); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "lab %s: network %s, creating %d %s hosts\n", n.Lab(), n.Subnet(), count, stack)
	hs, err := n.NewHosts(ctx, count, stack)
	if err != nil {
		return nil, err
	}
	var nodes []controlplane.Node
	for _, h := range hs {
		nodes = append(nodes, controlplane.Node{Name: h.Name(), IP: h.IP()})
		st.Hosts = append(st.Hosts, h.Name())
	}
	cpDir := filepath.Join(abs, "controlplane")
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Dir: cpDir, BindAddress: n.Gateway(), SANPrefixes: []netip.Prefix{n.Subnet()},
		Nodes: nodes, Detach: true,
	})
	if err != nil {
		return nil, err
	}
	st.APIServer = cp.URL()
	if err := n.ForwardAPIServer(ctx, cp.APIAddress()); err != nil {
		return nil, err
	}
	if err := startProvisioner(abs, cpDir); err != nil {
		return nil, err
	}
	if err := writeState(abs, st); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(abs, "id_ed25519"), n.PrivateKeyPEM(), 0o600); err != nil {
		return nil, fmt.Errorf("writing the ssh key: %w", err)
	}
	kc, err := cp.Kubeconfig("https://" + netip.AddrPortFrom(hs[0].IP(), 16443).String())
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(abs, "kubeconfig"), kc, 0o600); err != nil {
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}
	if err := os.WriteFile(stackFile, stackYAML(n, hs), 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", stackFile, err)
	}
	return &madeLab{dir: abs, net: n, hosts: hs, cp: cp, took: time.Since(start)}, nil
}

func writeState(dir string, st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "lab.json"), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing lab state: %w", err)
	}
	return nil
}

// startProvisioner runs this binary's provision command detached, recorded with the
// control plane's processes so that down stops it.
func startProvisioner(stateDir, cpDir string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("starting the provisioner: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(cpDir, "logs", "provisioner.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("starting the provisioner: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(self, "provision", "-state", stateDir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the provisioner: %w", err)
	}
	if err := controlplane.RecordPid(cpDir, "provisioner", cmd.Process.Pid, self); err != nil {
		return err
	}
	return cmd.Process.Release()
}

// provision is the long-lived hostpath provisioner of a detached lab.
func provision(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("provision", flag.ExitOnError)
	dir := stateFlags(fs)
	_ = fs.Parse(args)
	_, n, err := attach(ctx, *dir)
	if err != nil {
		return err
	}
	client, err := adminClient(*dir)
	if err != nil {
		return err
	}
	return controlplane.RunProvisioner(ctx, client, n, os.Stderr)
}

func adminClient(dir string) (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "controlplane", "admin.kubeconfig"))
	if err != nil {
		return nil, fmt.Errorf("reading the admin kubeconfig: %w", err)
	}
	cfg.Timeout = 3 * time.Second
	return kubernetes.NewForConfig(cfg)
}

// stackYAML is the lab's Pulumi stack file: the hosts as nodes, HA at three.
func stackYAML(n *hosts.Network, hs []*hosts.Host) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by scripts/lab up for lab %s; scripts/lab down removes it.\n", n.Lab())
	b.WriteString("# homelab:sshPrivateKey is a secret: set it with the pulumi config set line up printed.\nconfig:\n")
	b.WriteString("  homelab:nodes:\n")
	for i, h := range hs {
		role := "control-plane"
		if i >= 3 {
			role = "worker"
		}
		fmt.Fprintf(&b, "    - name: %s\n      address: %s\n      user: %s\n      hostKey: %s\n      staticAddress: %s\n      gateway: %s\n      dns: [%s]\n      role: %s\n",
			h.Name(), h.IP(), h.User(), h.HostKey(),
			netip.PrefixFrom(n.StaticAddress(i), n.Subnet().Bits()), n.Gateway(), n.Gateway(), role)
	}
	if len(hs) >= 3 {
		b.WriteString("  homelab:cluster:\n    ha: true\n")
	}
	return []byte(b.String())
}

func down(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("down", flag.ExitOnError)
	dir := stateFlags(fs)
	_ = fs.Parse(args)
	lab, err := removeLab(ctx, *dir)
	if err != nil {
		return err
	}
	fmt.Printf("lab %s removed\n", lab)
	return nil
}

// removeLab stops and deletes everything the lab recorded in dir and returns its id.
func removeLab(ctx context.Context, dir string) (string, error) {
	st, err := readState(dir)
	if err != nil {
		return "", err
	}
	var errs []error
	if err := controlplane.StopDir(filepath.Join(dir, "controlplane")); err != nil {
		errs = append(errs, err)
	}
	if err := hosts.Remove(ctx, st.Lab); err != nil {
		errs = append(errs, err)
	}
	if st.StackFile != "" {
		if err := os.Remove(st.StackFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", err // keep the state so that down can be run again
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("removing %s: %w", dir, err)
	}
	return st.Lab, nil
}

func status(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("status", flag.ExitOnError)
	dir := stateFlags(fs)
	_ = fs.Parse(args)
	st, n, err := attach(ctx, *dir)
	if err != nil {
		return err
	}
	fmt.Printf("lab %s on %s\n\n", st.Lab, n.Subnet())
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tIP\tSTACK\tMACHINE-ID\tSTATE")
	for _, h := range n.Hosts() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Name(), h.IP(), h.Stack(), h.MachineID(), hostState(h.Running(ctx), h.Partitioned()))
	}
	_ = tw.Flush()
	fmt.Println("break one: scripts/lab reinstall|stop|start|partition|heal NODE")
	fmt.Println()
	procs, err := controlplane.Running(filepath.Join(*dir, "controlplane"))
	if err != nil {
		return err
	}
	tw = tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTROL PLANE\tSTATE")
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "provisioner"} {
		state := "down"
		if procs[name] {
			state = "up"
		}
		fmt.Fprintf(tw, "%s\t%s\n", name, state)
	}
	api := "unreachable"
	if c, err := adminClient(*dir); err == nil {
		if nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
			api = fmt.Sprintf("ready, %d nodes", len(nodes.Items))
		}
	}
	fmt.Fprintf(tw, "api %s\t%s\n", st.APIServer, api)
	return tw.Flush()
}
