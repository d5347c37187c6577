package command

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	pb "github.com/homeslice/homelab/internal/lab/doubles/internal/provbase"
	"github.com/homeslice/homelab/internal/lab/sshdtest"
)

const copyURN = "urn:pulumi:test::lab::command:remote:CopyToRemote::cp"

// copyTo runs a CopyToRemote create of source to remotePath on s.
func copyTo(t *testing.T, s *sshdtest.Server, source resource.PropertyValue, remotePath string) error {
	t.Helper()
	in := resource.PropertyMap{
		"connection": resource.MakeSecret(resource.NewObjectProperty(resource.NewPropertyMapFromMap(sshConn(s)))),
		"remotePath": resource.NewStringProperty(remotePath),
		"source":     source,
	}
	st, err := pb.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(nil).Create(context.Background(), &pulumirpc.CreateRequest{Urn: copyURN, Properties: st})
	return err
}

func fileAsset(t *testing.T, p string) resource.PropertyValue {
	t.Helper()
	a, err := resource.NewPathAsset(p)
	if err != nil {
		t.Fatal(err)
	}
	return resource.NewAssetProperty(a)
}

func textAsset(t *testing.T, text string) resource.PropertyValue {
	t.Helper()
	a, err := resource.NewTextAsset(text)
	if err != nil {
		t.Fatal(err)
	}
	return resource.NewAssetProperty(a)
}

func dirArchive(t *testing.T, p string) resource.PropertyValue {
	t.Helper()
	a, err := resource.NewPathArchive(p)
	if err != nil {
		t.Fatal(err)
	}
	return resource.NewArchiveProperty(a)
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The real provider copies over SFTP: an sshd without the sftp subsystem fails the
// copy, though it runs commands.
func TestCopyToRemoteNeedsSFTP(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.WithoutSFTP())
	err := copyTo(t, s, textAsset(t, "hello\n"), s.Dir+"/file.txt")
	if err == nil || !strings.Contains(err.Error(), "sftp") {
		t.Fatalf("copy to an sshd without sftp: err = %v, want an sftp failure", err)
	}
	if got := s.ReadFile("file.txt"); got != "" {
		t.Errorf("the file arrived anyway: %q", got)
	}
}

// The copy goes over the sftp subsystem, not a shell.
func TestCopyToRemoteUsesSFTP(t *testing.T) {
	s := sshdtest.Start(t)
	if err := copyTo(t, s, textAsset(t, "hello\n"), s.Dir+"/file.txt"); err != nil {
		t.Fatal(err)
	}
	if got := s.ReadFile("file.txt"); got != "hello\n" {
		t.Errorf("remote file = %q", got)
	}
	if log := s.Log(); !strings.Contains(log, "subsystem 'sftp'") {
		t.Errorf("sshd saw no sftp subsystem request:\n%s", log)
	}
}

// The real provider's placement rules (copyController.go's table).
func TestCopyToRemotePlacement(t *testing.T) {
	s := sshdtest.Start(t)
	local := t.TempDir()
	write(t, filepath.Join(local, "f.txt"), "file\n")
	write(t, filepath.Join(local, "dir", "a.txt"), "a\n")
	write(t, filepath.Join(local, "dir", "sub", "b.txt"), "b\n")
	file := fileAsset(t, filepath.Join(local, "f.txt"))
	dir := dirArchive(t, filepath.Join(local, "dir"))
	dirSlash := dirArchive(t, filepath.Join(local, "dir")+"/")

	tests := []struct {
		name   string
		setup  func(dest string) // what is at dest before the copy
		source resource.PropertyValue
		dest   string            // remotePath, under the case's own directory
		want   map[string]string // files under the case's directory afterwards
		err    string
	}{
		{name: "file into an existing dir", setup: mkdir, source: file, dest: "d",
			want: map[string]string{"d/f.txt": "file\n"}},
		{name: "file to a new path", source: file, dest: "new/deep/x.txt",
			want: map[string]string{"new/deep/x.txt": "file\n"}},
		{name: "file over a file", setup: writeOld, source: file, dest: "x.txt",
			want: map[string]string{"x.txt": "file\n"}},
		{name: "dir into an existing dir", setup: mkdir, source: dir, dest: "d",
			want: map[string]string{"d/dir/a.txt": "a\n", "d/dir/sub/b.txt": "b\n"}},
		{name: "dir to a new path", source: dir, dest: "new/d",
			want: map[string]string{"new/d/dir/a.txt": "a\n", "new/d/dir/sub/b.txt": "b\n"}},
		{name: "dir/ into an existing dir", setup: mkdir, source: dirSlash, dest: "d",
			want: map[string]string{"d/a.txt": "a\n", "d/sub/b.txt": "b\n"}},
		{name: "dir/ to a new path", source: dirSlash, dest: "new/d",
			want: map[string]string{"new/d/a.txt": "a\n", "new/d/sub/b.txt": "b\n"}},
		{name: "dir/ over a file", setup: writeOld, source: dirSlash, dest: "x",
			err: "exists but is not a directory"},
		{name: "dir over a file", setup: writeOld, source: dir, dest: "x",
			err: "failed to create remote directory"},
		{name: "text to a new path", source: textAsset(t, "text\n"), dest: "new/t.txt",
			want: map[string]string{"new/t.txt": "text\n"}},
		{name: "text into an existing dir", setup: mkdir, source: textAsset(t, "text\n"), dest: "d",
			err: "is a directory; when using a text asset, remotePath must be a file path"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := filepath.Join(s.Dir, fmt.Sprintf("case%d", i))
			if err := os.MkdirAll(base, 0o755); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(base, tt.dest)
			if tt.setup != nil {
				tt.setup(dest)
			}
			err := copyTo(t, s, tt.source, dest)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := filesUnder(t, base); !maps.Equal(got, tt.want) {
				t.Errorf("files = %v, want %v", got, tt.want)
			}
		})
	}
}

func mkdir(p string) { _ = os.MkdirAll(p, 0o755) }

func writeOld(p string) { _ = os.WriteFile(p, []byte("old\n"), 0o644) }

func filesUnder(t *testing.T, root string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		got[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
