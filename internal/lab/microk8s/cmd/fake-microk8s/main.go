// Command fake-microk8s is the lab's stand-in for snapd and microk8s on a test
// host (see package microk8s): one static binary, called as snap, microk8s,
// microk8s.<command> or microk8s-agent.
package main

import (
	"context"
	"os"

	"github.com/homeslice/homelab/internal/lab/microk8s"
)

func main() {
	os.Exit(microk8s.Main(context.Background(), os.Args, os.Stdin, os.Stdout, os.Stderr))
}
