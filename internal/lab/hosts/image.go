package hosts

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Stack is the network stack that manages a host, as the distributions ship them.
type Stack string

const (
	// Netplan is an Ubuntu-server-like host: netplan rendering to systemd-networkd.
	Netplan Stack = "netplan"
	// Networkd is systemd-networkd configured directly, without netplan.
	Networkd Stack = "networkd"
	// NetworkManager is a host managed by NetworkManager.
	NetworkManager Stack = "networkmanager"
	// Ifupdown is a classic Debian host with /etc/network/interfaces.
	Ifupdown Stack = "ifupdown"
)

// Stacks lists every supported network stack.
var Stacks = []Stack{Netplan, Networkd, NetworkManager, Ifupdown}

// Suite is the Debian release every lab host runs.
const Suite = "bookworm"

// DefaultUser is the installer's user on every host: key auth and passwordless sudo.
const DefaultUser = "lab"

// imageRepo names every image the lab builds; images are a cache, kept across labs.
const imageRepo = "homelab-lab/debian"

// packages is what a fresh server install has, plus every network stack: variants
// purge the stacks they do not use, offline.
var packages = []string{
	"systemd", "systemd-sysv", "dbus", "udev", "openssh-server", "sudo",
	"iproute2", "iputils-ping", "netbase", "isc-dhcp-client",
	"netplan.io", "ifupdown",
	"ca-certificates", "curl", "gnupg", "openssl", "lsb-release",
	"procps", "kmod", "less", "nano", "cron", "logrotate", "rsync", "tzdata",
}

// latePackages install with apt after debootstrap (see build-root.sh).
var latePackages = []string{"network-manager"}

var (
	//go:embed scripts/build-root.sh
	buildRootScript string
	//go:embed scripts/variant.sh
	variantScript string
)

// CacheDir is where the lab keeps image build state: $HOMELAB_LAB_CACHE or
// ~/.cache/homelab/lab (persists between a session and the CI run after it).
func CacheDir() (string, error) {
	if d := os.Getenv("HOMELAB_LAB_CACHE"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the lab cache dir: %w", err)
	}
	return filepath.Join(home, ".cache", "homelab", "lab"), nil
}

func contentKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// rootKey identifies the debootstrapped root: the package list and the build script.
func rootKey() string {
	return contentKey(Suite, DefaultUser, strings.Join(packages, ","), strings.Join(latePackages, ","), buildRootScript)
}

// ImageRef returns the image reference for a network stack at the current content key.
func ImageRef(stack Stack) string {
	return fmt.Sprintf("%s:%s-%s", imageRepo, contentKey(rootKey(), variantScript, string(stack)), stack)
}

// EnsureImage returns the image for stack. On a miss it loads the images from the
// archive in CacheDir (a fresh Docker engine on a machine whose home directory
// persisted: seconds), or else builds every stack's image (debootstrap, minutes) and
// archives them there. Concurrent callers (test binaries run in parallel) serialise on
// a lock file.
func EnsureImage(ctx context.Context, stack Stack, log io.Writer) (string, error) {
	ref := ImageRef(stack)
	if imageExists(ctx, ref) {
		return ref, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", cache, err)
	}
	lock, err := os.OpenFile(filepath.Join(cache, "image.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("opening image lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("locking image build: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it too
	if imageExists(ctx, ref) {
		return ref, nil // built by whoever held the lock
	}
	archive := archivePath(cache)
	if _, err := os.Stat(archive); err == nil {
		if _, err := docker(ctx, nil, "load", "-q", "-i", archive); err == nil && imageExists(ctx, ref) {
			return ref, nil
		}
		// A damaged archive is rebuilt below.
	}
	root := fmt.Sprintf("%s:%s-root", imageRepo, rootKey())
	if !imageExists(ctx, root) {
		if err := buildRoot(ctx, cache, root, log); err != nil {
			return "", fmt.Errorf("building the lab host root: %w", err)
		}
	}
	for _, s := range Stacks {
		if imageExists(ctx, ImageRef(s)) {
			continue
		}
		if err := buildVariant(ctx, root, ImageRef(s), s); err != nil {
			return "", fmt.Errorf("building the %s host image: %w", s, err)
		}
	}
	pruneImages(ctx)
	if err := saveArchive(ctx, cache, archive); err != nil {
		return "", err
	}
	return ref, nil
}

// archivePath names the archive of every stack's image at the current content keys.
func archivePath(cache string) string {
	refs := make([]string, 0, len(Stacks))
	for _, s := range Stacks {
		refs = append(refs, ImageRef(s))
	}
	return filepath.Join(cache, "images-"+contentKey(refs...)+".tar")
}

// saveArchive writes every stack's image (shared layers once) to archive and removes
// archives of other keys.
func saveArchive(ctx context.Context, cache, archive string) error {
	tmp := archive + ".tmp"
	args := []string{"save", "-o", tmp}
	for _, s := range Stacks {
		args = append(args, ImageRef(s))
	}
	if _, err := docker(ctx, nil, args...); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("archiving the lab images: %w", err)
	}
	if err := os.Rename(tmp, archive); err != nil {
		return fmt.Errorf("archiving the lab images: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(cache, "images-*.tar"))
	for _, f := range old {
		if f != archive {
			_ = os.Remove(f)
		}
	}
	return nil
}

// pruneImages removes lab images of other content keys, so the cache does not grow
// with every change of the package list or scripts. Images still in use stay.
func pruneImages(ctx context.Context) {
	keep := map[string]bool{fmt.Sprintf("%s:%s-root", imageRepo, rootKey()): true}
	for _, s := range Stacks {
		keep[ImageRef(s)] = true
	}
	out, err := docker(ctx, nil, "images", "--format", "{{.Repository}}:{{.Tag}}", imageRepo)
	if err != nil {
		return
	}
	for _, ref := range strings.Fields(out) {
		if !keep[ref] {
			_, _ = docker(ctx, nil, "rmi", ref)
		}
	}
}

func buildRoot(ctx context.Context, cache, ref string, log io.Writer) error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("debootstrap is not installed (apt-get install debootstrap): %w", err)
	}
	mirror, err := Mirror("/etc/apt", Suite)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(cache, "root-")
	if err != nil {
		return fmt.Errorf("creating build dir: %w", err)
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "build-root.sh")
	if err := os.WriteFile(script, []byte(buildRootScript), 0o755); err != nil {
		return fmt.Errorf("writing build script: %w", err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	logPath := filepath.Join(cache, "build-root.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("creating build log: %w", err)
	}
	defer logFile.Close()
	var out io.Writer = logFile
	if log != nil {
		out = io.MultiWriter(logFile, log)
	}
	cmd := exec.CommandContext(ctx, "bash", script, rootfs, mirror, Suite, strings.Join(packages, ","), strings.Join(latePackages, ","), DefaultUser)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debootstrap (log in %s): %w", logPath, err)
	}
	tar := exec.CommandContext(ctx, "tar", "--numeric-owner", "--xattrs", "-C", rootfs, "-c", ".")
	imp := exec.CommandContext(ctx, "docker", "import",
		"--change", `CMD ["/usr/local/sbin/lab-init"]`,
		"--change", "LABEL homelab.lab.image="+rootKey(),
		"-", ref)
	pipe, err := tar.StdoutPipe()
	if err != nil {
		return err
	}
	imp.Stdin = pipe
	var impErr strings.Builder
	imp.Stderr = &impErr
	if err := tar.Start(); err != nil {
		return fmt.Errorf("archiving the root: %w", err)
	}
	if err := imp.Run(); err != nil {
		_ = tar.Wait()
		return fmt.Errorf("docker import: %w: %s", err, impErr.String())
	}
	if err := tar.Wait(); err != nil {
		return fmt.Errorf("archiving the root: %w", err)
	}
	return nil
}

// buildVariant runs variant.sh in a network-less container of the root and commits it.
func buildVariant(ctx context.Context, root, ref string, stack Stack) error {
	name := "homelab-lab-build-" + contentKey(ref)
	_, _ = docker(ctx, nil, "rm", "-f", name)
	if _, err := docker(ctx, strings.NewReader(variantScript), "run", "-i", "--name", name,
		"--network", "none", "--label", "homelab.lab.build=1", root,
		"bash", "-s", "--", string(stack)); err != nil {
		_, _ = docker(ctx, nil, "rm", "-f", name)
		return err
	}
	defer docker(ctx, nil, "rm", "-f", name) //nolint:errcheck // best effort
	_, err := docker(ctx, nil, "commit",
		"--change", `CMD ["/usr/local/sbin/lab-init"]`,
		"--change", "LABEL homelab.lab.image="+contentKey(ref),
		name, ref)
	return err
}

// RemoveImages empties the image cache: every lab image and the image archive, so the
// next EnsureImage builds from scratch. Images in use stay and are reported.
func RemoveImages(ctx context.Context) error {
	if cache, err := CacheDir(); err == nil {
		old, _ := filepath.Glob(filepath.Join(cache, "images-*.tar"))
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	out, err := docker(ctx, nil, "images", "--format", "{{.Repository}}:{{.Tag}}", imageRepo)
	if err != nil {
		return fmt.Errorf("removing lab images: %w", err)
	}
	if refs := strings.Fields(out); len(refs) > 0 {
		if _, err := docker(ctx, nil, append([]string{"rmi"}, refs...)...); err != nil {
			return fmt.Errorf("removing lab images: %w", err)
		}
	}
	return nil
}
