package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pkg/sftp"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	pb "github.com/homeslice/homelab/internal/lab/doubles/internal/provbase"
)

// checkSource accepts what upstream accepts: a path or text asset, or a path archive.
func checkSource(news resource.PropertyMap) []*pulumirpc.CheckFailure {
	v, ok := news["source"]
	if !ok {
		return nil
	}
	v = pb.Plain(v)
	switch {
	case v.IsComputed():
	case v.IsAsset():
		if a := v.AssetValue(); !a.IsPath() && !a.IsText() {
			return []*pulumirpc.CheckFailure{{Property: "asset", Reason: "asset must be a path-based file asset or a text asset"}}
		}
	case v.IsArchive():
		if !v.ArchiveValue().IsPath() {
			return []*pulumirpc.CheckFailure{{Property: "archive", Reason: "archive must be a path to a file or directory"}}
		}
	default:
		return []*pulumirpc.CheckFailure{{Property: "asset", Reason: "either asset or archive must be set"}}
	}
	return nil
}

func sourceHash(m resource.PropertyMap) string {
	v := pb.Plain(m["source"])
	switch {
	case v.IsAsset():
		return v.AssetValue().Hash
	case v.IsArchive():
		return v.ArchiveValue().Hash
	}
	return ""
}

func copyOutputs(props resource.PropertyMap) resource.PropertyMap {
	out := pb.StripInternal(props).Copy()
	if c, ok := out["connection"]; ok && !c.IsSecret() && !c.IsComputed() {
		out["connection"] = resource.MakeSecret(c)
	}
	return out
}

func (p *Provider) createCopy(ctx context.Context, urn resource.URN, props resource.PropertyMap, preview bool) (*pulumirpc.CreateResponse, error) {
	if !preview {
		if err := p.copy(ctx, urn, props); err != nil {
			return nil, err
		}
	}
	id, err := resource.NewUniqueHex("", 8, 0)
	if err != nil {
		return nil, err
	}
	out, err := pb.Marshal(copyOutputs(props))
	return &pulumirpc.CreateResponse{Id: id, Properties: out}, err
}

// updateCopy copies again only when the source's hash or the remote path changed.
func (p *Provider) updateCopy(ctx context.Context, urn resource.URN, olds, news resource.PropertyMap, preview bool) (*pulumirpc.UpdateResponse, error) {
	changed := sourceHash(olds) != sourceHash(news) || str(pb.String(olds, "remotePath")) != str(pb.String(news, "remotePath"))
	if !preview && changed {
		if err := p.copy(ctx, urn, news); err != nil {
			return nil, err
		}
	}
	out, err := pb.Marshal(copyOutputs(news))
	return &pulumirpc.UpdateResponse{Properties: out}, err
}

// copy writes the source to remotePath over SFTP, as the real provider does, so a
// host whose sshd offers no sftp subsystem fails the copy.
func (p *Provider) copy(ctx context.Context, urn resource.URN, props resource.PropertyMap) error {
	conn, err := parseConnection(pb.Object(props, "connection"))
	if err != nil {
		return err
	}
	client, err := conn.dial(ctx, p.log, urn)
	if err != nil {
		return err
	}
	defer client.Close()
	sc, err := sftp.NewClient(client)
	if err != nil {
		return fmt.Errorf("starting sftp: %w", err)
	}
	defer sc.Close()
	dest := str(pb.String(props, "remotePath"))
	v := pb.Plain(props["source"])
	switch {
	case v.IsAsset() && v.AssetValue().IsText():
		return copyText(sc, v.AssetValue().Text, dest)
	case v.IsAsset():
		return copyPath(sc, v.AssetValue().Path, dest)
	case v.IsArchive():
		return copyPath(sc, v.ArchiveValue().Path, dest)
	}
	return errors.New("source must be an asset or an archive")
}

// remoteStat is the remote path's info, or nil when nothing is there.
func remoteStat(sc *sftp.Client, p string) (fs.FileInfo, error) {
	info, err := sc.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to stat remote path %s: %w", p, err)
	}
	return info, nil
}

// copyText writes a text asset to dest, which must not be a directory: a text
// asset has no file name to put inside one.
func copyText(sc *sftp.Client, text, dest string) error {
	info, err := remoteStat(sc, dest)
	if err != nil {
		return err
	}
	if info != nil && info.IsDir() {
		return fmt.Errorf("remote path %s is a directory; when using a text asset, remotePath must be a file path", dest)
	}
	if err := sc.MkdirAll(path.Dir(dest)); err != nil {
		return fmt.Errorf("failed to create parent directories for %s: %w", dest, err)
	}
	return writeRemote(sc, strings.NewReader(text), dest)
}

// copyPath copies a local file or directory with the real provider's placement:
//
//	source | dest is a directory | dest is missing | dest is a file
//	dir    | dest/dir            | dest/dir        | error
//	dir/   | dest/<entries>      | dest/<entries>  | error
//	file   | dest/file           | dest            | dest, overwritten
//
// Missing parent directories are created.
func copyPath(sc *sftp.Client, src, dest string) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	existing, err := remoteStat(sc, dest)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		dest, err := fileDest(sc, src, dest, existing)
		if err != nil {
			return err
		}
		return copyFile(sc, src, dest)
	}
	if existing == nil {
		if err := sc.MkdirAll(dest); err != nil {
			return fmt.Errorf("failed to create remote directory %s: %w", dest, err)
		}
	}
	if !strings.HasSuffix(src, "/") {
		dest = path.Join(dest, filepath.Base(src))
	}
	return copyDir(sc, src, dest)
}

// fileDest is where a file goes: inside dest when that is a directory, else dest
// itself (its parents created when it is new).
func fileDest(sc *sftp.Client, src, dest string, existing fs.FileInfo) (string, error) {
	switch {
	case existing != nil && existing.IsDir():
		return path.Join(dest, filepath.Base(src)), nil
	case existing == nil:
		if err := sc.MkdirAll(path.Dir(dest)); err != nil {
			return "", fmt.Errorf("failed to create parent directories for %s: %w", dest, err)
		}
	}
	return dest, nil
}

// copyDir copies the tree under src to dst, making the directories it lacks and
// overwriting the files it has.
func copyDir(sc *sftp.Client, src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := path.Join(dst, filepath.ToSlash(rel))
		if !d.IsDir() {
			return copyFile(sc, p, target)
		}
		return ensureRemoteDir(sc, target)
	})
}

func ensureRemoteDir(sc *sftp.Client, dir string) error {
	info, err := remoteStat(sc, dir)
	switch {
	case err != nil:
		return err
	case info == nil:
		if err := sc.Mkdir(dir); err != nil {
			return fmt.Errorf("failed to create remote directory %s: %w", dir, err)
		}
	case !info.IsDir():
		return fmt.Errorf("remote path %s exists but is not a directory", dir)
	}
	return nil
}

func copyFile(sc *sftp.Client, src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := writeRemote(sc, f, dst); err != nil {
		return fmt.Errorf("failed to copy file %s to remote path %s: %w", src, dst, err)
	}
	return nil
}

// writeRemote creates (or truncates) dst and writes r to it.
func writeRemote(sc *sftp.Client, r io.Reader, dst string) error {
	w, err := sc.Create(dst)
	if err != nil {
		return fmt.Errorf("failed to create remote file %s: %w", dst, err)
	}
	if _, err := w.ReadFrom(r); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}
