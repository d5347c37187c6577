package hosts

import (
	"net/netip"
	"testing"
)

// A reinstalled host of an attached lab gets the forwarding again only if Attach can
// read the target back from what forwardFiles wrote.
func TestForwardTargetReadsBackWhatForwardFilesWrites(t *testing.T) {
	want := netip.MustParseAddrPort("10.213.7.1:34567")
	var unit string
	for _, f := range forwardFiles(want) {
		if f.path == forwardUnit {
			unit = f.data
		}
	}
	if unit == "" {
		t.Fatalf("forwardFiles wrote no %s", forwardUnit)
	}
	if got, ok := forwardTarget(unit); !ok || got != want {
		t.Errorf("forwardTarget = %v, %v; want %v", got, ok, want)
	}
	for _, bad := range []string{"", "[Service]\nExecStart=/lib/systemd/systemd-socket-proxyd\n", "ExecStart=x not-an-address\n"} {
		if got, ok := forwardTarget(bad); ok {
			t.Errorf("forwardTarget(%q) = %v, want none", bad, got)
		}
	}
}
