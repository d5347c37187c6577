package stacks

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

// Home is the home-lab program: it loads and validates the whole stack
// configuration before declaring anything, so a bad stack fails preview with
// every problem and changes nothing, then wires the components.
func Home(ctx *pulumi.Context) error {
	cfg, err := Load(ctx)
	if err != nil {
		return err
	}
	return wire(ctx, cfg)
}

// wire declares the components in dependency order. Components are added
// here as they land (RemoteNode first); until then a valid stack declares
// nothing.
func wire(ctx *pulumi.Context, cfg *Config) error {
	_, _ = ctx, cfg
	return nil
}
