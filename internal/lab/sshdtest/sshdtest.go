// Package sshdtest runs a real OpenSSH sshd as a child process on 127.0.0.1 for
// tests: a random port, fresh ed25519 and ecdsa host keys, one authorized client key
// for the current user and, as a stock Debian sshd, the sftp subsystem (CopyToRemote
// copies over SFTP). No system service is touched.
package sshdtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Binary is where Debian's openssh-server puts sshd.
const Binary = "/usr/sbin/sshd"

// SFTPServer is where Debian's openssh-sftp-server puts the sftp subsystem: the
// one a stock Debian sshd_config (and so every lab host) names.
const SFTPServer = "/usr/lib/openssh/sftp-server"

// Option changes how Start configures sshd.
type Option func(*options)

type options struct {
	noSFTP bool
	setEnv []string
}

// WithoutSFTP starts an sshd that offers no sftp subsystem, as a host whose
// sshd_config lacks the Subsystem line.
func WithoutSFTP() Option { return func(o *options) { o.noSFTP = true } }

// WithSetEnv sets NAME=value variables in every session (sshd's SetEnv), after
// sshd's own: WithSetEnv("PATH="+dir+":/usr/bin:/bin") puts stand-in commands
// (a sudo that asks for a password) in front of the real ones.
func WithSetEnv(vars ...string) Option {
	return func(o *options) { o.setEnv = append(o.setEnv, vars...) }
}

// sftpSubsystem is the Subsystem line: Debian's sftp-server, as on the lab's hosts,
// or sshd's built-in one where that is not installed.
func sftpSubsystem() string {
	if _, err := os.Stat(SFTPServer); err == nil {
		return "Subsystem sftp " + SFTPServer
	}
	return "Subsystem sftp internal-sftp"
}

// Server is one running sshd.
type Server struct {
	Host string // 127.0.0.1
	Port int
	User string
	// ClientKey is the OpenSSH private key authorized for User.
	ClientKey string
	// HostKeyEd25519 and HostKeyECDSA are the server's public host keys in
	// authorized_keys form.
	HostKeyEd25519, HostKeyECDSA string
	// Dir is a scratch directory tests may use for files the commands write.
	Dir string

	cmd *exec.Cmd
	mu  sync.Mutex
	log bytes.Buffer
}

// Start starts sshd and stops it when the test ends. It skips the test when sshd is
// not installed, unless CI is set (then it fails: CI must install openssh-server).
// The sshd offers the sftp subsystem unless WithoutSFTP is given.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing: apt-get install openssh-server", Binary)
		}
		t.Skipf("%s missing (apt-get install openssh-server)", Binary)
	}
	dir := t.TempDir()
	// sshd wants absolute paths; StrictModes is off below because the temp dirs
	// are not laid out like a home directory.
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Host: "127.0.0.1", User: u.Username, Dir: filepath.Join(dir, "work")}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		t.Fatal(err)
	}

	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	s.HostKeyEd25519 = writeKey(t, filepath.Join(dir, "host_ed25519"), edPriv, edPub)
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.HostKeyECDSA = writeKey(t, filepath.Join(dir, "host_ecdsa"), ecPriv, &ecPriv.PublicKey)
	clPub, clPriv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(clPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	s.ClientKey = string(pem.EncodeToMemory(block))
	sshPub, _ := ssh.NewPublicKey(clPub)
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(sshPub), 0o600); err != nil {
		t.Fatal(err)
	}
	// privilege separation needs this directory when sshd runs as root
	if os.Geteuid() == 0 {
		_ = os.MkdirAll("/run/sshd", 0o755)
	}

	s.Port = freePort(t)
	lines := []string{
		"ListenAddress " + s.Host,
		"Port " + strconv.Itoa(s.Port),
		"HostKey " + filepath.Join(dir, "host_ed25519"),
		"HostKey " + filepath.Join(dir, "host_ecdsa"),
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"PidFile none",
		"StrictModes no",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"AcceptEnv LAB_* PULUMI_COMMAND_*",
		"LogLevel VERBOSE",
	}
	if !o.noSFTP {
		lines = append(lines, sftpSubsystem())
	}
	for _, kv := range o.setEnv {
		lines = append(lines, "SetEnv "+strconv.Quote(kv))
	}
	config := strings.Join(lines, "\n") + "\n"
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(Binary, "-D", "-e", "-f", cfgPath)
	s.cmd.Stdout = &lockedWriter{s}
	s.cmd.Stderr = &lockedWriter{s}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting sshd: %v", err)
	}
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s: %v\n%s", s.Addr(), err, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Stop kills sshd; safe to call twice.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil && s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// Log is everything sshd logged so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Logins counts accepted authentications (one per SSH connection).
func (s *Server) Logins() int { return strings.Count(s.Log(), "Accepted publickey") }

// ReadFile reads a file the commands wrote under Dir ("" when missing).
func (s *Server) ReadFile(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, name))
	return string(b)
}

type lockedWriter struct{ s *Server }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.log.Write(p)
}

func writeKey(t testing.TB, path string, priv, pub any) string {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Pubkey returns a fresh ed25519 public key in authorized_keys form, one no server has.
func Pubkey(t testing.TB) string {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(fmt.Errorf("wrapping key: %w", err))
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}
