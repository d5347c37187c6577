package hosts

import (
	"net/netip"
	"strings"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
