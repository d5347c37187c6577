package command

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/ssh"

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

// copy writes the source to remotePath. Upstream uses SFTP; this double pipes each
// file through `cat` in its own session, with the same placement rules: a file into
// an existing directory lands inside it, a directory without a trailing slash is
// copied as a subdirectory, with one its contents are.
func (p *Provider) copy(ctx context.Context, urn resource.URN, props resource.PropertyMap) error {
	conn, err := parseConnection(pb.Object(props, "connection"))
	if err != nil {
		return err
	}
	dest := str(pb.String(props, "remotePath"))
	client, err := conn.dial(ctx, p.log, urn)
	if err != nil {
		return err
	}
	defer client.Close()
	v := pb.Plain(props["source"])
	switch {
	case v.IsAsset() && v.AssetValue().IsText():
		return remoteWrite(client, v.AssetValue().Text, dest, "", true)
	case v.IsAsset():
		src := v.AssetValue().Path
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		return remoteWrite(client, string(data), dest, filepath.Base(src), false)
	case v.IsArchive():
		src := v.ArchiveValue().Path
		info, err := os.Stat(src)
		if err != nil {
			return err
		}
		if !info.IsDir() {
			data, err := os.ReadFile(src)
			if err != nil {
				return err
			}
			return remoteWrite(client, string(data), dest, filepath.Base(src), false)
		}
		root := dest
		if !strings.HasSuffix(src, "/") {
			root = path.Join(dest, filepath.Base(src))
		}
		return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(src, p)
			if err != nil {
				return err
			}
			target := path.Join(root, filepath.ToSlash(rel))
			if d.IsDir() {
				return remoteRun(client, "mkdir -p "+shellQuote(target), "")
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return remoteRun(client, "cat > "+shellQuote(target), string(data))
		})
	}
	return fmt.Errorf("source must be an asset or an archive")
}

func remoteWrite(client *ssh.Client, content, dest, base string, text bool) error {
	script := "d=" + shellQuote(dest) + "\n"
	if text {
		script += `if [ -d "$d" ]; then echo "remote path $d is a directory; when using a text asset, remotePath must be a file path" >&2; exit 1; fi` + "\n"
	} else {
		script += `if [ -d "$d" ]; then d="$d"/` + shellQuote(base) + "; fi\n"
	}
	script += `mkdir -p "$(dirname "$d")" && cat > "$d"`
	return remoteRun(client, script, content)
}

func remoteRun(client *ssh.Client, script, stdin string) error {
	s, err := client.NewSession()
	if err != nil {
		return err
	}
	defer s.Close()
	s.Stdin = strings.NewReader(stdin)
	out, err := s.CombinedOutput(script)
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
