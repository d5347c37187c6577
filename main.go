// Command homelab is the Pulumi program that rebuilds the home lab.
package main

import (
	"github.com/homeslice/homelab/stacks"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() {
	pulumi.Run(stacks.Home)
}
