package main

import (
	"slices"
	"testing"
)

func TestPinLinesAreFoundOnceEach(t *testing.T) {
	text := `error: host keys must be pinned before anything changes; nothing was changed.
node1 (10.0.0.101) has no pinned host key.
Check each key against the host's console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then run:
  pulumi config set --path 'nodes[0].hostKey' 'ssh-ed25519 AAAAC3Nza1 root@node1'
  pulumi config set --path 'nodes[1].hostKey' 'ssh-ed25519 AAAAC3Nza2'
error: an unhandled error occurred: ... (repeated by the CLI)
  pulumi config set --path 'nodes[0].hostKey' 'ssh-ed25519 AAAAC3Nza1 root@node1'
if the host is dead, mark it with pulumi config set --path 'nodes[2].down' true`
	got := pinLines(text)
	want := []string{
		"pulumi config set --path 'nodes[0].hostKey' 'ssh-ed25519 AAAAC3Nza1 root@node1'",
		"pulumi config set --path 'nodes[1].hostKey' 'ssh-ed25519 AAAAC3Nza2'",
	}
	if !slices.Equal(got, want) {
		t.Errorf("pinLines = %q, want %q", got, want)
	}
}

func TestShellWords(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
		ok   bool
	}{
		{"pulumi config set --path 'nodes[0].hostKey' 'ssh-ed25519 AAAA x'", []string{"pulumi", "config", "set", "--path", "nodes[0].hostKey", "ssh-ed25519 AAAA x"}, true},
		{`pulumi config set --path 'a' 'it'\''s'`, []string{"pulumi", "config", "set", "--path", "a", "it's"}, true},
		{"pulumi config set --path 'a' 'open", nil, false},
		{"rm -rf / 'x'", nil, false},
	} {
		got, err := shellWords(tc.line)
		if (err == nil) != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("shellWords(%q) = %q, %v; want %q, ok %v", tc.line, got, err, tc.want, tc.ok)
		}
	}
}

func TestAbbreviateKeepsTheKeysEnd(t *testing.T) {
	got := abbreviate("pulumi config set --path 'nodes[0].hostKey' 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF3OVtcVVfhwLfNq+nP+waRk40QuZ32gDNJEefbsfIHS'")
	if want := "pulumi config set --path 'nodes[0].hostKey' 'ssh-ed25519 …efbsfIHS'"; got != want {
		t.Errorf("abbreviate = %q, want %q", got, want)
	}
}
