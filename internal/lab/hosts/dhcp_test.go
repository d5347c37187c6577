package hosts

import "testing"

func TestMACIsTheAddresss(t *testing.T) {
	if got := macFor(mustAddr("10.213.5.101")); got != "02:42:0a:d5:05:65" {
		t.Errorf("macFor = %s", got)
	}
}

func TestDHCPConfigAsksForDHCP(t *testing.T) {
	want := map[Stack]string{
		Netplan:        "dhcp4: true",
		Networkd:       "DHCP=ipv4",
		NetworkManager: "method=auto",
		Ifupdown:       "iface eth0 inet dhcp",
	}
	for _, s := range Stacks {
		files, err := dhcpNetworkConfig(s)
		if err != nil {
			t.Fatal(err)
		}
		static, _ := networkConfig(s, mustAddr("10.213.5.101"), 24, mustAddr("10.213.5.1"))
		if len(files) != 1 || files[0].path != static[0].path || !contains(files[0].data, want[s]) || contains(files[0].data, "10.213.5.") {
			t.Errorf("%s: %+v", s, files)
		}
	}
	files, err := cloudInitConfig(Netplan, mustAddr("10.213.5.101"), 24, mustAddr("10.213.5.1"), true)
	if err != nil {
		t.Fatal(err)
	}
	if d := files[0].data; !contains(d, "    eth0:\n      dhcp4: true\n      match:") || contains(d, "10.213.5.") {
		t.Errorf("cloud-init with DHCP:\n%s", d)
	}
	if _, err := dhcpNetworkConfig("bogus"); err == nil {
		t.Error("unknown stack accepted")
	}
}
