// Command pulumi-resource-command is the lab's TEST DOUBLE of the pulumi-command
// plugin v1.2.1; see package command.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"github.com/homeslice/homelab/internal/lab/doubles/command"
	pb "github.com/homeslice/homelab/internal/lab/doubles/internal/provbase"
)

func main() {
	err := provider.Main("command", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return command.New(pb.HostLogger{Host: host}), nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
