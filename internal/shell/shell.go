// Package shell quotes values for POSIX shell scripts rendered by the
// components, so a config value can never break out of its word.
package shell

import "strings"

// Quote returns s as one single-quoted shell word.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Sudo wraps a script as the one command line a remote.Command runs: bash as
// root via non-interactive sudo, the script as a single quoted argument, so
// the command's stdin stays free for secrets. name is $0, which names the
// step in bash's error messages.
func Sudo(name, script string) string {
	return "sudo -n bash -c " + Quote(script) + " " + Quote(name)
}
