// Package command is a TEST DOUBLE of the pulumi-command resource plugin
// (pulumi-resource-command v1.2.1, the version github.com/pulumi/pulumi-command/sdk
// v1.2.1 asks the engine for). It exists because the real plugin cannot be obtained in
// the lab; it is written from the real provider's documented behaviour, not copied.
//
// It serves the provider gRPC protocol for command:remote:Command and
// command:remote:CopyToRemote with the real type tokens, inputs and outputs:
//   - only a change under `triggers` is a replacement (the SDK also registers
//     replaceOnChanges "triggers[*]"); every other change is an update that runs
//     `update`, or else `create`, with the NEW inputs on the NEW connection;
//   - Delete runs `delete` with the OLD inputs and never dials when it is unset;
//   - stdin is piped, stdout/stderr are streamed to the engine as status lines unless
//     `logging` says otherwise, and a failing command's error carries both whatever
//     `logging` says;
//   - `connection.hostKey` is checked with only that key's algorithm offered (unset:
//     no check); dials are retried `dialErrorLimit` times (default 10) with
//     `perDialTimeout` seconds each (default 15);
//   - `addPreviousOutputInEnv` (default true) offers the previous stdout/stderr as
//     PULUMI_COMMAND_STDOUT/PULUMI_COMMAND_STDERR (a warning when sshd refuses them).
//
// Not implemented: command:local:*, command:remote:CopyFile (deprecated upstream).
package command
