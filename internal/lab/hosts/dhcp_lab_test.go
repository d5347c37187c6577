//go:build lab

package hosts_test

import (
	"context"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/homeslice/homelab/internal/lab/hosts"
)

func hostsPerStack() []hosts.HostOptions {
	var out []hosts.HostOptions
	for _, s := range hosts.Stacks {
		out = append(out, hosts.HostOptions{Stack: s})
	}
	return out
}

// lifetime is the valid_lft of an `ip -o addr` line.
var lifetime = regexp.MustCompile(`valid_lft (\S+)`)

// eth0Addrs returns eth0's IPv4 addresses as `ip -4 -o addr` prints them.
func eth0Addrs(t *testing.T, h *hosts.Host) string {
	t.Helper()
	out, err := h.Exec(context.Background(), "ip -4 -o addr show dev eth0")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// assertDHCPAddress checks that eth0 has the host's address, from a lease: dynamic,
// with a finite lifetime.
func assertDHCPAddress(t *testing.T, h *hosts.Host) {
	t.Helper()
	line := eth0Addrs(t, h)
	if strings.Count(line, "\n") != 0 || !strings.Contains(line, " "+h.IP().String()+"/24 ") {
		t.Errorf("%s: eth0 has %q, want %s alone", h.Name(), line, h.IP())
	}
	secs := -1
	if m := lifetime.FindStringSubmatch(line); m != nil {
		if v, err := strconv.Atoi(strings.TrimSuffix(m[1], "sec")); err == nil {
			secs = v
		}
	}
	if !strings.Contains(line, " dynamic ") || secs <= 0 || secs > 3600 {
		t.Errorf("%s: %s is not a DHCP address (dynamic, valid_lft ≤ 1h): %q", h.Name(), h.IP(), line)
	}
}

func TestDHCPHostsHoldRealLeases(t *testing.T) {
	ctx := context.Background()
	n, err := hosts.NewNetwork(ctx, hosts.Options{DHCP: true, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(n.DHCPLog())
			t.Logf("dnsmasq log:\n%s", b)
		}
		if err := n.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	// Each stack's own view of eth0's configuration.
	client := map[hosts.Stack]string{
		hosts.Netplan:        "networkctl status eth0 --no-pager | grep 'Address:.*(DHCP4 via'",
		hosts.Networkd:       "networkctl status eth0 --no-pager | grep 'Address:.*(DHCP4 via'",
		hosts.NetworkManager: "nmcli -g GENERAL.STATE device show eth0 | grep -x '100 (connected)' && nmcli -g DHCP4.OPTION device show eth0 | grep ip_address",
		hosts.Ifupdown:       "pgrep -x dhclient && grep fixed-address /var/lib/dhcp/dhclient.eth0.leases",
	}
	// One host per stack, and a cloud-init install whose datasource said DHCP.
	var hs []*hosts.Host
	for _, o := range append(hostsPerStack(), hosts.HostOptions{Stack: hosts.Netplan, CloudInit: true}) {
		name := "dhcp-" + string(o.Stack)
		if o.CloudInit {
			name = "dhcp-cloudinit"
		}
		start := time.Now()
		h, err := n.NewHost(ctx, name, o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s: %s answers SSH after %v", name, h.IP(), time.Since(start).Round(100*time.Millisecond))
		hs = append(hs, h)
	}
	leases, err := n.Leases()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if got := runSSH(t, h, "cat /etc/machine-id"); got != h.MachineID() {
			t.Errorf("%s: machine-id %q, want %q", h.Name(), got, h.MachineID())
		}
		mac := runSSH(t, h, "cat /sys/class/net/eth0/address")
		var found bool
		for _, l := range leases {
			if l.IP != h.IP() {
				continue
			}
			found = true
			if l.MAC != mac || l.Hostname != h.Name() {
				t.Errorf("%s: lease for %s is %s %q, want %s %q", h.Name(), l.IP, l.MAC, l.Hostname, mac, h.Name())
			}
			if left := time.Until(l.Expiry); left <= 0 || left > time.Hour {
				t.Errorf("%s: lease expires in %v", h.Name(), left)
			}
		}
		if !found {
			t.Errorf("%s: no lease for %s in %+v", h.Name(), h.IP(), leases)
		}
		assertDHCPAddress(t, h)
		if out, err := h.Exec(ctx, client[h.Stack()]); err != nil {
			t.Errorf("%s: the DHCP client holds no lease: %v\n%s", h.Name(), err, out)
		}
	}

	// A power cycle: Docker's address is dropped again and the lease renewed.
	nd := hs[1]
	if err := nd.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := nd.Start(ctx); err != nil {
		t.Fatal(err)
	}
	assertDHCPAddress(t, nd)

	// A static config replacing the DHCP one: the leased address goes, only the
	// static one stays.
	np, static := hs[0], n.StaticAddress(0)
	if _, err := np.Exec(ctx, `cat >/etc/netplan/60-static.yaml <<EOF
network:
  version: 2
  renderer: networkd
  ethernets:
    eth0:
      addresses: [`+static.String()+`/24]
      routes:
        - to: default
          via: `+n.Gateway().String()+`
EOF
chmod 600 /etc/netplan/60-static.yaml && rm /etc/netplan/50-installer.yaml &&
netplan generate && networkctl reload && networkctl reconfigure eth0`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		line := eth0Addrs(t, np)
		if !strings.Contains(line, "\n") && strings.Contains(line, " "+static.String()+"/24 ") && strings.Contains(line, "valid_lft forever") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after the static config, eth0 has %q, want only %s (forever)", np.Name(), line, static)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c, err := hosts.DialSSH(ctx, netip.AddrPortFrom(static, 22), np.ClientConfig(10*time.Second))
	if err != nil {
		t.Fatalf("%s: ssh to the static address %s: %v", np.Name(), static, err)
	}
	c.Close()
}
