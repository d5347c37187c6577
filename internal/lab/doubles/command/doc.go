// Package command is a TEST DOUBLE of the pulumi-command resource plugin
// (pulumi-resource-command v1.2.1, the version github.com/pulumi/pulumi-command/sdk
// v1.2.1 asks the engine for). It exists because the real plugin cannot be obtained in
// the lab; it is written from the real provider's documented behaviour, not copied.
//
// It serves the provider gRPC protocol for command:remote:Command and
// command:remote:CopyToRemote with the real type tokens, inputs and outputs:
//   - Check is pulumi-go-provider's DefaultCheck, driven by schema.json: a value of
//     the wrong type is a CheckFailure (unknowns pass), and the connection's (and its
//     proxy's) defaults, user root, port 22, dialErrorLimit 10 and perDialTimeout 15,
//     are filled in, so they land in state; a secret not known yet inside `triggers`
//     (a new RandomPassword) fails Check with the real `triggers[0]: malformed
//     secret: missing value`, anywhere else it passes;
//   - in a preview stdout and stderr are unknown on create, and on update whenever
//     an input is unknown or differs from the old state (infer's markComputed);
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
//   - `addPreviousOutputInEnv` (unset means true) offers the previous stdout/stderr
//     as PULUMI_COMMAND_STDOUT/PULUMI_COMMAND_STDERR (a warning when sshd refuses them);
//   - CopyToRemote copies over SFTP (github.com/pkg/sftp, as upstream), so a host
//     without the sftp subsystem fails, with the real placement: a file into an
//     existing directory lands inside it, a directory is copied as a subdirectory,
//     with a trailing slash its entries are, and a text asset onto a directory fails.
//
// Where it is stricter than the real plugin: Check refuses a `logging` outside the
// enum (infer only decodes it into a string type). Not implemented:
// command:local:*, command:remote:CopyFile (deprecated upstream).
package command
