package hosts

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// BootTimeout bounds how long a host may take from power-on to accepting SSH.
const BootTimeout = 2 * time.Minute

// Host is one lab machine.
type Host struct {
	n         *Network
	name      string
	ip        netip.Addr
	stack     Stack
	container string
	// cloudInit: the installer was cloud-init (see HostOptions.CloudInit).
	cloudInit bool

	mu          sync.Mutex
	machineID   string
	hostKey     keyPair
	partitioned bool
}

// Name returns the hostname.
func (h *Host) Name() string { return h.name }

// IP returns the install-time address; it survives Stop, Start and Reinstall.
func (h *Host) IP() netip.Addr { return h.ip }

// Stack returns the host's network stack.
func (h *Host) Stack() Stack { return h.stack }

// CloudInit reports whether the host has cloud-init's network layout.
func (h *Host) CloudInit() bool { return h.cloudInit }

// Container returns the Docker container name.
func (h *Host) Container() string { return h.container }

// User returns the installer's user, who may sudo without a password.
func (h *Host) User() string { return DefaultUser }

// Signer returns the SSH signer for User.
func (h *Host) Signer() ssh.Signer { return h.n.user.signer }

// PrivateKeyPEM returns User's private key in OpenSSH PEM form.
func (h *Host) PrivateKeyPEM() []byte { return h.n.user.private }

// MachineID returns the /etc/machine-id the current install has.
func (h *Host) MachineID() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.machineID
}

// HostKey returns the current install's ed25519 host key in authorized_keys form,
// the form a pin is written in.
func (h *Host) HostKey() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hostKey.authorized
}

// HostPublicKey returns the current install's host key for ssh.FixedHostKey.
func (h *Host) HostPublicKey() ssh.PublicKey {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hostKey.public
}

// create makes a fresh install: new identity, new container, booted.
func (h *Host) create(ctx context.Context) error {
	image, err := EnsureImage(ctx, h.stack, h.n.log)
	if err != nil {
		return err
	}
	id, err := newMachineID()
	if err != nil {
		return err
	}
	key, err := newKeyPair("root@" + h.name)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.machineID, h.hostKey, h.partitioned = id, key, false
	h.mu.Unlock()

	_, _ = docker(ctx, nil, "rm", "-f", "-v", h.container)
	args := []string{"create",
		"--name", h.container, "--hostname", h.name,
		"--label", Label + "=" + h.n.lab, "--label", Label + ".host=" + h.name, "--label", Label + ".stack=" + string(h.stack), "--label", Label + ".cloudinit=" + fmt.Sprint(h.cloudInit),
		"--network", h.n.name, "--ip", h.ip.String(),
		// NET_ADMIN: scenarios add and move addresses. SYS_ADMIN: lab-init turns
		// Docker's bind-mounted /etc files into plain files, and hostnamectl sets
		// the hostname.
		"--cap-add", "NET_ADMIN", "--cap-add", "SYS_ADMIN",
		"--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
		"-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro",
		"--stop-signal", "SIGRTMIN+3",
		"--env", "container=docker",
	}
	// The MAC is the address's (macFor): the engine's own where --mac-address is refused.
	if macFlagSupported(ctx) {
		args = append(args, "--mac-address", macFor(h.ip))
	}
	if _, err := docker(ctx, nil, append(args, image)...); err != nil {
		return err
	}
	files, err := h.installFiles(id, key)
	if err != nil {
		return err
	}
	if err := h.copyIn(ctx, files); err != nil {
		return err
	}
	if _, err := docker(ctx, nil, "start", h.container); err != nil {
		return err
	}
	if h.n.dhcp != nil {
		// The DHCP reservation names macFor's MAC: an engine that picked another
		// would leave the host without an address.
		got, err := docker(ctx, nil, "inspect", "--format",
			`{{with index .NetworkSettings.Networks "`+h.n.name+`"}}{{.MacAddress}}{{end}}`, h.container)
		if err != nil {
			return err
		}
		if want := macFor(h.ip); got != want {
			return fmt.Errorf("eth0 has MAC %q, not %s, which the DHCP reservation for %s names", got, want, h.ip)
		}
	}
	return h.waitSSH(ctx)
}

// file is one file (or symlink, when link is set) written into a container.
type file struct {
	path, link string
	mode       int64
	uid        int
	data       string
}

// installFiles is what the installer leaves on a fresh host: identity, the authorised
// key, the install-time network configuration, and the API server forwarder when the
// lab has one.
func (h *Host) installFiles(machineID string, key keyPair) ([]file, error) {
	files := []file{
		{path: "etc/machine-id", mode: 0o444, data: machineID + "\n"},
		{path: "etc/ssh/ssh_host_ed25519_key", mode: 0o600, data: string(key.private)},
		{path: "etc/ssh/ssh_host_ed25519_key.pub", mode: 0o644, data: key.authorized + " root@" + h.name + "\n"},
		{path: "home/" + DefaultUser + "/.ssh/", mode: 0o700, uid: 1000},
		{path: "home/" + DefaultUser + "/.ssh/authorized_keys", mode: 0o600, uid: 1000, data: h.n.user.authorized + "\n"},
	}
	dhcp := h.n.dhcp != nil
	var net []file
	var err error
	switch {
	case h.cloudInit:
		net, err = cloudInitConfig(h.stack, h.ip, h.n.subnet.Bits(), h.n.gateway, dhcp)
	case dhcp:
		net, err = dhcpNetworkConfig(h.stack)
	default:
		net, err = networkConfig(h.stack, h.ip, h.n.subnet.Bits(), h.n.gateway)
	}
	if err != nil {
		return nil, err
	}
	files = append(files, net...)
	if dhcp {
		files = append(files, dhcpFlushFiles()...)
	}
	if t := h.n.apiTarget(); t.IsValid() {
		files = append(files, forwardFiles(t)...)
	}
	return files, nil
}

// networkConfig is the static install-time configuration each stack's installer
// writes for the host's own address.
func networkConfig(stack Stack, ip netip.Addr, bits int, gw netip.Addr) ([]file, error) {
	cidr := netip.PrefixFrom(ip, bits).String()
	switch stack {
	case Netplan:
		return []file{{path: "etc/netplan/50-installer.yaml", mode: 0o600, data: fmt.Sprintf(`network:
  version: 2
  renderer: networkd
  ethernets:
    eth0:
      addresses: [%s]
      routes:
        - to: default
          via: %s
`, cidr, gw)}}, nil
	case Networkd:
		return []file{{path: "etc/systemd/network/10-eth0.network", mode: 0o644, data: fmt.Sprintf(`[Match]
Name=eth0

[Network]
Address=%s
Gateway=%s
`, cidr, gw)}}, nil
	case NetworkManager:
		return []file{{path: "etc/NetworkManager/system-connections/eth0.nmconnection", mode: 0o600, data: fmt.Sprintf(`[connection]
id=eth0
type=ethernet
interface-name=eth0

[ipv4]
method=manual
address1=%s,%s

[ipv6]
method=ignore
`, cidr, gw)}}, nil
	case Ifupdown:
		return []file{{path: "etc/network/interfaces", mode: 0o644, data: fmt.Sprintf(`source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

auto eth0
iface eth0 inet static
    address %s
    gateway %s

# a second interface the installer configured, never brought up here
iface eth1 inet dhcp
`, cidr, gw)}}, nil
	}
	return nil, fmt.Errorf("unknown network stack %q", stack)
}

// cloudInitConfig is what a cloud-init install leaves for the network: its own
// netplan file naming the interface with match and set-name (as cloud-init
// renders a datasource's network config), with a second interface beside it,
// and cloud-init's configuration directory. cloud-init itself is not installed
// (it would look for a datasource at every boot): its presence is what the
// program checks. Real cloud-init matches by MAC, which a veth's lack of a
// permanent MAC makes unusable here, so the lab's file matches by name. With dhcp,
// eth0 asks for DHCP, as a datasource that configures no address renders it.
func cloudInitConfig(stack Stack, ip netip.Addr, bits int, gw netip.Addr, dhcp bool) ([]file, error) {
	if stack != Netplan {
		return nil, fmt.Errorf("cloud-init's network layout is netplan's, not %s's", stack)
	}
	eth0 := fmt.Sprintf(`      addresses: [%s]
      routes:
        - to: default
          via: %s
`, netip.PrefixFrom(ip, bits), gw)
	if dhcp {
		eth0 = "      dhcp4: true\n"
	}
	return []file{
		{path: "etc/netplan/50-cloud-init.yaml", mode: 0o600, data: fmt.Sprintf(`# This file is generated from information provided by the datasource.  Changes
# to it will not persist across an instance reboot.
network:
  version: 2
  ethernets:
    eth0:
%s      match:
        name: eth0
      set-name: eth0
    eth1:
      dhcp4: true
      optional: true
`, eth0)},
		{path: "etc/cloud/cloud.cfg.d/90-installer.cfg", mode: 0o644, data: "# written by the lab's installer: cloud-init's configuration directory\ndatasource_list: [ None ]\n"},
	}, nil
}

// forwardUnit is the path of the service forwardFiles writes.
const forwardUnit = "etc/systemd/system/lab-apiserver.service"

// forwardFiles is a socket-activated systemd-socket-proxyd (part of systemd, so no
// extra package on the host) forwarding :16443 to the lab API server.
func forwardFiles(target netip.AddrPort) []file {
	return []file{
		{path: "etc/systemd/system/lab-apiserver.socket", mode: 0o644, data: `[Unit]
Description=lab: the API server port a microk8s node serves

[Socket]
ListenStream=16443

[Install]
WantedBy=sockets.target
`},
		{path: forwardUnit, mode: 0o644, data: fmt.Sprintf(`[Unit]
Description=lab: forward :16443 to the lab API server
Requires=lab-apiserver.socket
After=lab-apiserver.socket

[Service]
ExecStart=/lib/systemd/systemd-socket-proxyd %s
`, target)},
		{path: "etc/systemd/system/sockets.target.wants/lab-apiserver.socket", link: "/etc/systemd/system/lab-apiserver.socket"},
	}
}

func (h *Host) applyForward(ctx context.Context, target netip.AddrPort) error {
	if err := h.copyIn(ctx, forwardFiles(target)); err != nil {
		return err
	}
	if !h.Running(ctx) {
		return nil // picked up at the next boot
	}
	_, err := h.Exec(ctx, "systemctl daemon-reload && systemctl stop lab-apiserver.service && systemctl restart lab-apiserver.socket")
	return err
}

// copyIn writes files into the container's filesystem (running or not) as one tar stream.
func (h *Host) copyIn(ctx context.Context, files []file) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(strings.TrimSuffix(f.path, "/")); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	// Parent directories first, as a real tree: existing ones keep their owner (the
	// extraction only sets what is in the header, and these say root 0755).
	for _, d := range sortedKeys(dirs) {
		if strings.HasPrefix(d, "home/"+DefaultUser) && d != "home" {
			continue // created with the right owner by useradd or by an entry below
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: time.Now()}); err != nil {
			return err
		}
	}
	for _, f := range files {
		hdr := &tar.Header{Name: f.path, Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: time.Now()}
		switch {
		case f.link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, f.link, 0o777
		case strings.HasSuffix(f.path, "/"):
			hdr.Typeflag = tar.TypeDir
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(f.data)); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	_, err := docker(ctx, &buf, "cp", "-a", "-", h.container+":/")
	return err
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	// Shorter paths first puts every parent before its children.
	slices.SortFunc(out, func(a, b string) int {
		if c := cmp.Compare(len(a), len(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return out
}

// ClientConfig is an SSH client configuration for User that accepts only the
// current install's pinned host key, offering only that key's algorithm.
func (h *Host) ClientConfig(timeout time.Duration) *ssh.ClientConfig {
	key := h.HostPublicKey()
	return &ssh.ClientConfig{
		User:              DefaultUser,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(h.n.user.signer)},
		HostKeyCallback:   ssh.FixedHostKey(key),
		HostKeyAlgorithms: []string{key.Type()},
		Timeout:           timeout,
	}
}

// Dial opens an SSH connection to the host's address with the pinned host key. A
// host that is off or partitioned fails within timeout.
func (h *Host) Dial(ctx context.Context, timeout time.Duration) (*ssh.Client, error) {
	return DialSSH(ctx, netip.AddrPortFrom(h.ip, 22), h.ClientConfig(timeout))
}

// DialSSH dials addr and completes the SSH handshake within cfg.Timeout.
func DialSSH(ctx context.Context, addr netip.AddrPort, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl) // bounds the handshake too
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr.String(), cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// RunSSH runs cmd over SSH as User and returns its stdout.
func (h *Host) RunSSH(ctx context.Context, cmd string) (string, error) {
	c, err := h.Dial(ctx, 10*time.Second)
	if err != nil {
		return "", fmt.Errorf("%s: dialing ssh: %w", h.name, err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return "", fmt.Errorf("%s: opening ssh session: %w", h.name, err)
	}
	defer s.Close()
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	if err := s.Run(cmd); err != nil {
		return stdout.String(), fmt.Errorf("%s: %s: %w: %s", h.name, cmd, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (h *Host) waitSSH(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, BootTimeout)
	defer cancel()
	var last error
	for {
		out, err := h.RunSSH(ctx, "cat /etc/machine-id")
		if err == nil {
			if got := strings.TrimSpace(out); got != h.MachineID() {
				return fmt.Errorf("booted with machine-id %q, want %q", got, h.MachineID())
			}
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			logs, _ := docker(context.Background(), nil, "logs", "--tail", "20", h.container)
			return fmt.Errorf("waiting for ssh: %w (last: %v; console: %s)", ctx.Err(), last, logs)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// Running reports whether the host has power.
func (h *Host) Running(ctx context.Context) bool {
	out, err := docker(ctx, nil, "inspect", "--format", "{{.State.Running}}", h.container)
	return err == nil && out == "true"
}

// Stop cuts the power: the container is killed, nothing shuts down cleanly. The
// disk (the container's filesystem) stays.
func (h *Host) Stop(ctx context.Context) error {
	if _, err := docker(ctx, nil, "kill", h.container); err != nil && h.Running(ctx) {
		return fmt.Errorf("stopping host %s: %w", h.name, err)
	}
	if _, err := docker(ctx, nil, "wait", h.container); err != nil {
		return fmt.Errorf("stopping host %s: %w", h.name, err)
	}
	return nil
}

// Start powers the host on and waits until it accepts SSH (unless it is partitioned,
// in which case it stays cut off and Start returns once it runs).
func (h *Host) Start(ctx context.Context) error {
	if _, err := docker(ctx, nil, "start", h.container); err != nil {
		return fmt.Errorf("starting host %s: %w", h.name, err)
	}
	h.mu.Lock()
	partitioned := h.partitioned
	h.mu.Unlock()
	if partitioned {
		if err := h.setPartition(ctx, true); err != nil {
			return fmt.Errorf("starting host %s: %w", h.name, err)
		}
		return nil
	}
	if err := h.waitSSH(ctx); err != nil {
		return fmt.Errorf("starting host %s: %w", h.name, err)
	}
	return nil
}

// Partition cuts the host off every network as a pulled cable would: all traffic
// except loopback is dropped in the host's network namespace (from the machine's side,
// so the host cannot undo it), while its interfaces and addresses stay as they were.
// Disconnecting it from the Docker network instead would delete eth0 with every address
// a scenario added. Existing connections stall; new ones time out.
func (h *Host) Partition(ctx context.Context) error {
	if err := h.setPartition(ctx, true); err != nil {
		return fmt.Errorf("partitioning host %s: %w", h.name, err)
	}
	return nil
}

// Heal reconnects a partitioned host.
func (h *Host) Heal(ctx context.Context) error {
	if err := h.setPartition(ctx, false); err != nil {
		return fmt.Errorf("healing host %s: %w", h.name, err)
	}
	return nil
}

// Partitioned reports whether the host is cut off, or will be when it next starts.
func (h *Host) Partitioned() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.partitioned
}

const partitionComment = "homelab-lab-partition"

// partitionRules are the chain and the rule spec of each DROP rule a partition inserts.
var partitionRules = [][]string{
	{"INPUT", "!", "-i", "lo", "-m", "comment", "--comment", partitionComment, "-j", "DROP"},
	{"OUTPUT", "!", "-o", "lo", "-m", "comment", "--comment", partitionComment, "-j", "DROP"},
}

// pid returns the PID of the running container's init, whose network namespace is the host's.
func (h *Host) pid(ctx context.Context) (string, error) {
	pid, err := docker(ctx, nil, "inspect", "--format", "{{.State.Pid}}", h.container)
	if err != nil {
		return "", err
	}
	if n, err := strconv.Atoi(pid); err != nil || n == 0 {
		return "", fmt.Errorf("container pid %q: not running", pid)
	}
	return pid, nil
}

// partitionActive reports whether the running host's network namespace has the
// partition's rules: what Attach reads back, since the flag lives in the process that
// set it.
func (h *Host) partitionActive(ctx context.Context) (bool, error) {
	pid, err := h.pid(ctx)
	if err != nil {
		return false, err
	}
	for _, r := range partitionRules {
		if nsIptables(ctx, pid, append([]string{"-C"}, r...)...) == nil {
			return true, nil
		}
	}
	return false, nil
}

func (h *Host) setPartition(ctx context.Context, on bool) error {
	h.mu.Lock()
	h.partitioned = on
	h.mu.Unlock()
	if !h.Running(ctx) {
		return nil // applied at the next Start
	}
	pid, err := h.pid(ctx)
	if err != nil {
		return err
	}
	for _, r := range partitionRules {
		chain, spec := r[0], r[1:]
		exists := nsIptables(ctx, pid, append([]string{"-C", chain}, spec...)...) == nil
		switch {
		case on && !exists:
			if err := nsIptables(ctx, pid, append([]string{"-I", chain, "1"}, spec...)...); err != nil {
				return err
			}
		case !on && exists:
			if err := nsIptables(ctx, pid, append([]string{"-D", chain}, spec...)...); err != nil {
				return err
			}
		}
	}
	return nil
}

// nsIptables runs the machine's iptables inside the network namespace of process pid.
func nsIptables(ctx context.Context, pid string, args ...string) error {
	cmd := append([]string{"-t", pid, "-n", "iptables", "-w"}, args...)
	if out, err := execCommand(ctx, "nsenter", cmd...); err != nil {
		return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// Reinstall is a dead disk and a fresh OS install: the container is destroyed and
// recreated bare with the same name and address, a new machine-id and a new host key.
func (h *Host) Reinstall(ctx context.Context) error {
	if err := h.create(ctx); err != nil {
		return fmt.Errorf("reinstalling host %s: %w", h.name, err)
	}
	return nil
}

// Destroy removes the host's container; the host is gone for good.
func (h *Host) Destroy(ctx context.Context) error {
	if _, err := docker(ctx, nil, "rm", "-f", "-v", h.container); err != nil {
		return fmt.Errorf("destroying host %s: %w", h.name, err)
	}
	return nil
}

// Exec runs a shell command as root inside the host, bypassing the network (docker
// exec): for setting up and inspecting scenarios, also while partitioned. The host
// must be running.
func (h *Host) Exec(ctx context.Context, cmd string) (string, error) {
	out, err := docker(ctx, nil, "exec", h.container, "/bin/sh", "-c", cmd)
	if err != nil {
		return out, fmt.Errorf("%s: exec %q: %w", h.name, cmd, err)
	}
	return out, nil
}

// ReadFile returns a file's content from the host's disk; it works while the host is
// stopped, too.
func (h *Host) ReadFile(ctx context.Context, name string) ([]byte, error) {
	out, err := docker(ctx, nil, "cp", h.container+":"+name, "-")
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", h.name, name, err)
	}
	tr := tar.NewReader(strings.NewReader(out))
	hdr, err := tr.Next()
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", h.name, name, err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%s: reading %s: not a regular file", h.name, name)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(tr); err != nil {
		return nil, fmt.Errorf("%s: reading %s: %w", h.name, name, err)
	}
	return b.Bytes(), nil
}

// WriteFile writes a root-owned file onto the host's disk (running or not).
func (h *Host) WriteFile(ctx context.Context, name string, data []byte, mode os.FileMode) error {
	if !path.IsAbs(name) {
		return fmt.Errorf("%s: writing %s: path is not absolute", h.name, name)
	}
	if err := h.copyIn(ctx, []file{{path: strings.TrimPrefix(name, "/"), mode: int64(mode.Perm()), data: string(data)}}); err != nil {
		return fmt.Errorf("%s: writing %s: %w", h.name, name, err)
	}
	return nil
}

// MemoryBytes returns the memory the host uses now, as docker stats counts it (the
// container cgroup's usage less its inactive file cache).
func (h *Host) MemoryBytes(ctx context.Context) (uint64, error) {
	id, err := docker(ctx, nil, "inspect", "--format", "{{.Id}}", h.container)
	if err != nil {
		return 0, fmt.Errorf("%s: reading memory: %w", h.name, err)
	}
	for _, dir := range []string{"/sys/fs/cgroup/memory/docker/" + id, "/sys/fs/cgroup/system.slice/docker-" + id + ".scope"} {
		usage, err := readUint(dir+"/memory.usage_in_bytes", dir+"/memory.current")
		if err != nil {
			continue
		}
		stat, _ := os.ReadFile(dir + "/memory.stat")
		for _, line := range strings.Split(string(stat), "\n") {
			k, v, _ := strings.Cut(line, " ")
			if k == "total_inactive_file" || k == "inactive_file" {
				if n, err := strconv.ParseUint(v, 10, 64); err == nil && n < usage {
					return usage - n, nil
				}
			}
		}
		return usage, nil
	}
	return 0, fmt.Errorf("%s: reading memory: no cgroup found for container %s", h.name, id)
}

func readUint(paths ...string) (uint64, error) {
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	return 0, errors.Join(errs...)
}
