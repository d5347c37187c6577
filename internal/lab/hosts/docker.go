package hosts

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// The lab talks to Docker through the docker CLI rather than the Docker SDK:
// github.com/docker/docker drags in containerd, moby and an otel generation that
// would have to be kept in step with the Pulumi SDK's in go.mod, and the CLI is
// on every machine that has the engine. It negotiates the API version itself.

// docker runs the docker CLI and returns its trimmed stdout; a failure carries stderr.
func docker(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin = stdin
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// imageExists reports whether a local image with this reference exists.
func imageExists(ctx context.Context, ref string) bool {
	_, err := docker(ctx, nil, "image", "inspect", "--format", "{{.Id}}", ref)
	return err == nil
}

// execCommand runs a machine command and returns its combined output.
func execCommand(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
