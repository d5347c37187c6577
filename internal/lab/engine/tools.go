package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Versions of the real tools and of the plugins the SDKs in go.mod ask for.
const (
	PulumiVersion     = "v3.274.1"
	KubernetesVersion = "v4.32.0"
	CommandVersion    = "v1.2.1"
	RandomVersion     = "v4.21.1"
)

// ToolsDir is where scripts/install-tools caches the real tools.
func ToolsDir() string {
	if d := os.Getenv("HOMELAB_TOOLS"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "homelab", "tools")
}

// tool returns the path of a binary built by scripts/install-tools.
func tool(name, version, binary string) (string, error) {
	dir := filepath.Join(ToolsDir(), name+"-"+version)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
		return "", fmt.Errorf("%s %s is not built in %s: run scripts/install-tools %s", name, version, ToolsDir(), name)
	}
	return filepath.Join(dir, binary), nil
}

// PulumiCLI is the real pulumi CLI.
func PulumiCLI() (string, error) { return tool("pulumi", PulumiVersion, "pulumi") }

// KubernetesProvider is the real pulumi-resource-kubernetes.
func KubernetesProvider() (string, error) {
	return tool("kubernetes-provider", KubernetesVersion, "pulumi-resource-kubernetes")
}

var (
	doublesOnce sync.Once
	doublesDir  string
	doublesErr  error
)

// doubles builds the plugin doubles once per test process into a cache directory
// keyed by their sources (and go.mod/go.sum), so unchanged doubles are not rebuilt
// and nothing is left in /tmp.
func doubles() (string, error) {
	doublesOnce.Do(func() {
		doublesDir, doublesErr = buildDoubles()
	})
	return doublesDir, doublesErr
}

func buildDoubles() (string, error) {
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		// built with -trimpath: ask the go command where the module is
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
		if err != nil {
			return "", fmt.Errorf("finding the module root: %w", err)
		}
		root = strings.TrimSpace(string(out))
	}
	h := sha256.New()
	hashFile := func(p string) error {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", p, len(b))
		h.Write(b)
		return nil
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := hashFile(filepath.Join(root, f)); err != nil {
			return "", err
		}
	}
	err := filepath.WalkDir(filepath.Join(root, "internal", "lab", "doubles"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		return hashFile(p)
	})
	if err != nil {
		return "", fmt.Errorf("hashing the doubles' sources: %w", err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	parent := filepath.Join(cache, "homelab", "lab-doubles")
	dir := filepath.Join(parent, hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(parent, ".build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for _, name := range []string{"pulumi-resource-command", "pulumi-resource-random"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(tmp, name),
			"github.com/homeslice/homelab/internal/lab/doubles/cmd/"+name)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s: %w\n%s", name, err, out)
		}
	}
	// another process may have won the race; its build is as good
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr != nil {
			return "", err
		}
	}
	return dir, nil
}

// installPlugin places binary in home's plugin directory the way `pulumi plugin
// install` lays it out, so the engine finds it without downloading anything.
func installPlugin(home, kind, name, version, binary string) error {
	dir := filepath.Join(home, "plugins", kind+"-"+name+"-"+version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(dir, "pulumi-"+kind+"-"+name)
	if err := os.Link(binary, dst); err == nil {
		return nil
	}
	return copyFile(binary, dst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
