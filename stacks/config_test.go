package stacks

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/homeslice/homelab/internal/pulumitest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
)

// mapSource is a Source over plain maps, as the engine would hand them over.
type mapSource struct {
	values map[string]string
	secret map[string]bool
}

func (s mapSource) Get(k string) (string, bool) { v, ok := s.values[k]; return v, ok }
func (s mapSource) IsSecret(k string) bool      { return s.secret[k] }

// testKey returns a fresh ed25519 private key in OpenSSH PEM form and its
// public key in authorized_keys form.
func testKey(t testing.TB) (private, public string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	sshPub, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(block)), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
}

// homeStack is the example stack file as decoded JSON values, plus the
// secrets a user would set, so each test can break one thing.
type homeStack struct {
	values  map[string]any
	secrets map[string]string
}

func loadHome(t testing.TB) *homeStack {
	t.Helper()
	sf, err := pulumitest.ReadStackFile("../Pulumi.home.yaml", Namespace)
	require.NoError(t, err)
	require.Empty(t, sf.Secure, "the example stack must hold no secret")
	h := &homeStack{values: map[string]any{}}
	for k, raw := range sf.Config {
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			v = raw
		}
		h.values[k] = v
	}
	priv, _ := testKey(t)
	h.secrets = map[string]string{
		"sshPrivateKey":  priv,
		"resticPassword": "correct horse battery staple",
		"appSecrets":     `{"homebridge":{"pin":"031-45-154"},"sonos":{"api-key":"s3cr3t-api-key"}}`,
	}
	return h
}

func (h *homeStack) source(t testing.TB) mapSource {
	t.Helper()
	src := mapSource{values: map[string]string{}, secret: map[string]bool{}}
	for k, v := range h.values {
		if s, ok := v.(string); ok {
			src.values[k] = s
			continue
		}
		src.values[k] = pulumitest.JSON(t, v)
	}
	for k, v := range h.secrets {
		src.values[k] = v
		src.secret[k] = true
	}
	return src
}

// at walks decoded JSON by keys and indexes: at(h.values, "nodes", 1).
func at(v any, path ...any) map[string]any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v.(map[string]any)
}

func TestExampleStackValidatesClean(t *testing.T) {
	h := loadHome(t)
	cfg, err := LoadFrom(h.source(t))
	require.NoError(t, err)
	assert.Len(t, cfg.Nodes, 3)
	assert.True(t, cfg.Cluster.HA)
	assert.True(t, cfg.Registry.Enabled)
	assert.Equal(t, "node1", cfg.NetworkController.Node)
	assert.Equal(t, 22, cfg.Nodes[0].Port, "default port")
	assert.Equal(t, "192.168.1.21/24", cfg.Nodes[0].StaticAddress)
	assert.Equal(t, "1.32/stable", cfg.Cluster.Channel)
	assert.Equal(t, "s3cr3t-api-key", cfg.Secrets.AppSecrets["sonos"]["api-key"])
	require.NotNil(t, cfg.AppByName("clocktime"))
	assert.Equal(t, "0 8-21 * * *", cfg.AppByName("clocktime").Schedule)
	assert.Equal(t, []string{"kitchen-switch", "porch-switch"}, DeviceRefs(cfg.Apps[0].ConfigFiles[0].Content))
}

func TestDefaults(t *testing.T) {
	priv, _ := testKey(t)
	src := mapSource{
		values: map[string]string{
			"nodes":         `[{"name":"n1","address":"10.1.0.5","user":"ubuntu","staticAddress":"10.1.0.11/24","gateway":"10.1.0.1"}]`,
			"registry":      `{}`,
			"backups":       `{}`,
			"apps":          `[]`,
			"sshPrivateKey": priv,
		},
		secret: map[string]bool{"sshPrivateKey": true},
	}
	cfg, err := LoadFrom(src)
	require.NoError(t, err)
	n := cfg.Nodes[0]
	assert.Equal(t, 22, n.Port)
	assert.Equal(t, RoleControlPlane, n.Role)
	assert.Equal(t, []string{"10.1.0.1"}, n.DNS, "DNS defaults to the gateway")
	assert.Equal(t, "volatile", cfg.System.Journald.Storage)
	assert.Equal(t, "64M", cfg.System.Journald.SystemMaxUse)
	assert.Equal(t, []Addon{{Name: "dns"}, {Name: "hostpath-storage"}}, cfg.Cluster.Addons)
	assert.False(t, cfg.Registry.Enabled)
	assert.Equal(t, "20Gi", cfg.Registry.Size)
	assert.Nil(t, cfg.Backups, "an empty backups block is off")
	assert.Nil(t, cfg.NetworkController)
}

func TestStringScalarsFromConfigSetPath(t *testing.T) {
	// `pulumi config set --path nodes[0].port 2222` stores a string.
	h := loadHome(t)
	at(h.values, "nodes", 0)["port"] = "2222"
	at(h.values, "nodes", 2)["down"] = "true"
	cfg, err := LoadFrom(h.source(t))
	require.NoError(t, err)
	assert.Equal(t, 2222, cfg.Nodes[0].Port)
	assert.True(t, cfg.Nodes[2].Down)
}

func TestBadConfigurations(t *testing.T) {
	_, rsaPub := rsaKey(t)
	cases := []struct {
		name   string
		break_ func(h *homeStack)
		path   string
		msg    string
	}{
		{"malformed IP", func(h *homeStack) { at(h.values, "nodes", 1)["address"] = "10.0.0.300" }, "nodes[1].address", `"10.0.0.300" is not an IPv4 address`},
		{"duplicate install address", func(h *homeStack) { at(h.values, "nodes", 2)["address"] = "192.168.1.121" }, "nodes[2].address", "already the address of nodes[0]"},
		{"duplicate static address", func(h *homeStack) { at(h.values, "nodes", 1)["staticAddress"] = "192.168.1.21/24" }, "nodes[1].staticAddress", "already used by nodes[0].staticAddress"},
		{"static address not CIDR", func(h *homeStack) { at(h.values, "nodes", 0)["staticAddress"] = "192.168.1.21" }, "nodes[0].staticAddress", "CIDR form"},
		{"static address is the network", func(h *homeStack) { at(h.values, "nodes", 0)["staticAddress"] = "192.168.1.0/24" }, "nodes[0].staticAddress", "network or broadcast"},
		{"gateway outside subnet", func(h *homeStack) { at(h.values, "nodes", 0)["gateway"] = "192.168.2.1" }, "nodes[0].gateway", "outside the node's subnet 192.168.1.0/24"},
		{"dns not an address", func(h *homeStack) { at(h.values, "nodes", 2)["dns"] = []any{"192.168.1.1", "dns.example"} }, "nodes[2].dns[1]", "not an IPv4 address"},
		{"duplicate node name", func(h *homeStack) { at(h.values, "nodes", 2)["name"] = "node1" }, "nodes[2].name", `"node1" is already the name of nodes[0]`},
		{"node name not DNS-1123", func(h *homeStack) { at(h.values, "nodes", 2)["name"] = "Node_3" }, "nodes[2].name", "not a DNS-1123 label"},
		{"unknown role", func(h *homeStack) {
			at(h.values, "cluster")["ha"] = false
			at(h.values, "nodes", 0)["role"] = "master"
		}, "nodes[0].role", "expected control-plane or worker"},
		{"HA with two control planes", func(h *homeStack) { at(h.values, "nodes", 2)["role"] = "worker" }, "cluster.ha", "at least 3 control-plane nodes, found 2"},
		{"RSA host key", func(h *homeStack) { at(h.values, "nodes", 0)["hostKey"] = rsaPub }, "nodes[0].hostKey", "ssh-rsa"},
		{"malformed host key", func(h *homeStack) { at(h.values, "nodes", 0)["hostKey"] = "ssh-ed25519 notbase64" }, "nodes[0].hostKey", "authorized_keys form"},
		{"port as words", func(h *homeStack) { at(h.values, "nodes", 0)["port"] = "twenty-two" }, "nodes[0].port", `expected an integer, got "twenty-two"`},
		{"port out of range", func(h *homeStack) { at(h.values, "apps", 0)["port"] = 70000 }, "apps[0].port", "70000 is not a port"},
		{"misspelt key", func(h *homeStack) { at(h.values, "nodes", 0)["staticAdress"] = "x" }, "nodes[0].staticAdress", "unknown key; expected one of name, address"},
		{"controller on no node", func(h *homeStack) { at(h.values, "networkController")["node"] = "node9" }, "networkController.node", `"node9" names no node; expected one of node1, node2, node3`},
		{"controller outside subnet", func(h *homeStack) { at(h.values, "networkController")["address"] = "10.9.9.9" }, "networkController.address", "outside node1's subnet 192.168.1.0/24"},
		{"controller on a down node", func(h *homeStack) { at(h.values, "nodes", 0)["down"] = true }, "networkController.node", "marked down"},
		{"device shares the controller address", func(h *homeStack) { at(h.values, "devices")["kitchen-switch"] = "192.168.1.2" }, "devices.kitchen-switch", "already used by networkController.address"},
		{"device address malformed", func(h *homeStack) { at(h.values, "devices")["front-chime"] = "192.168.1" }, "devices.front-chime", "not an IPv4 address"},
		{"unknown device in a config file", func(h *homeStack) {
			f := at(h.values, "apps", 0, "configFiles", 0)
			f["content"] = strings.Replace(f["content"].(string), "kitchen-switch", "kitchen-swich", 1)
		}, "apps[0].configFiles[0].content", `unknown device "kitchen-swich"`},
		{"unknown device in env", func(h *homeStack) { at(h.values, "apps", 1, "env")["BUTTONS_ADDRESS"] = "{{device:attic}}" }, "apps[1].env.BUTTONS_ADDRESS", `unknown device "attic"`},
		{"unknown device in args", func(h *homeStack) { at(h.values, "apps", 3)["args"] = []any{"--speaker", "{{ device:garage }}"} }, "apps[3].args[1]", `unknown device "garage"`},
		{"node selector names no node", func(h *homeStack) { at(h.values, "apps", 5, "nodeSelector")["kubernetes.io/hostname"] = "node7" }, "apps[5].nodeSelector.kubernetes.io/hostname", `"node7" names no node`},
		{"bad app cron", func(h *homeStack) { at(h.values, "apps", 3)["schedule"] = "every hour" }, "apps[3].schedule", "not a cron schedule"},
		{"bad backup cron", func(h *homeStack) { at(h.values, "backups", "sources", 0)["schedule"] = "61 * * * *" }, "backups.sources[0].schedule", "not a cron schedule"},
		{"bad PVC size", func(h *homeStack) { at(h.values, "apps", 2, "pvc")["size"] = "lots" }, "apps[2].pvc.size", `"lots" is not a storage size`},
		{"relative mount path", func(h *homeStack) { at(h.values, "apps", 2, "pvc")["mountPath"] = "data" }, "apps[2].pvc.mountPath", "not a clean absolute path"},
		{"registry too small", func(h *homeStack) { at(h.values, "registry")["size"] = "10Gi" }, "registry.size", "minimum of 20Gi"},
		{"duplicate app name", func(h *homeStack) { at(h.values, "apps", 1)["name"] = "switches" }, "apps[1].name", `"switches" is already the name of apps[0]`},
		{"app name not DNS-1123", func(h *homeStack) { at(h.values, "apps", 0)["name"] = "Switches!" }, "apps[0].name", "not a DNS-1123 label"},
		{"ingress path without slash", func(h *homeStack) { at(h.values, "apps", 0, "ingress")["paths"] = []any{"switches"} }, "apps[0].ingress.paths[0]", "does not start with /"},
		{"ingress on a CronJob", func(h *homeStack) { at(h.values, "apps", 3)["ingress"] = map[string]any{"paths": []any{"/clock"}} }, "apps[3].ingress", "no Service to route to"},
		{"missing app secret", func(h *homeStack) { h.secrets["appSecrets"] = `{"homebridge":{"pin":"1"}}` }, "apps[4].secrets[0]", `secret "api-key" is missing`},
		{"missing ssh key", func(h *homeStack) { delete(h.secrets, "sshPrivateKey") }, "sshPrivateKey", "is required"},
		{"ssh key not a key", func(h *homeStack) { h.secrets["sshPrivateKey"] = "hunter2" }, "sshPrivateKey", "not an unencrypted private key"},
		{"missing restic password", func(h *homeStack) { delete(h.secrets, "resticPassword") }, "resticPassword", "required when backups is set"},
		{"repository on a node", func(h *homeStack) { at(h.values, "backups")["repository"] = "sftp:restic@192.168.1.22:/srv/restic" }, "backups.repository", "is on node node2"},
		{"repository on a node's disk", func(h *homeStack) { at(h.values, "backups")["repository"] = "/var/backups/restic" }, "backups.repository", "node's own disk"},
		{"repository not restic", func(h *homeStack) { at(h.values, "backups")["repository"] = "ftp://nas/x" }, "backups.repository", "not a restic repository"},
		{"bad freshness limit", func(h *homeStack) { at(h.values, "backups", "sources", 0)["maxAge"] = "soon" }, "backups.sources[0].maxAge", "not a duration"},
		{"pvc source without pvc", func(h *homeStack) { at(h.values, "backups", "sources", 1)["app"] = "switches" }, "backups.sources[1].app", `app "switches" has no pvc`},
		{"unknown source kind", func(h *homeStack) { at(h.values, "backups", "sources", 0)["kind"] = "database" }, "backups.sources[0].kind", "not a source kind"},
		{"channel without version", func(h *homeStack) { at(h.values, "cluster")["channel"] = "stable" }, "cluster.channel", "not a snap channel"},
		{"addon twice", func(h *homeStack) {
			c := at(h.values, "cluster")
			c["addons"] = append(c["addons"].([]any), map[string]any{"name": "dns"})
		}, "cluster.addons[3].name", `addon "dns" is listed twice`},
		{"journald storage", func(h *homeStack) { at(h.values, "system", "journald")["storage"] = "disk" }, "system.journald.storage", "not volatile, persistent or auto"},
		{"bool as word", func(h *homeStack) { at(h.values, "cluster")["ha"] = "yes" }, "cluster.ha", `expected true or false, got "yes"`},
		{"confirm time too short", func(h *homeStack) { at(h.values, "system")["ipConfirmTime"] = "5s" }, "system.ipConfirmTime", "not a duration from 20s to 30m"},
		{"controller version", func(h *homeStack) { at(h.values, "networkController")["version"] = "latest" }, "networkController.version", "not a version"},
		{"install address is another node's static address", func(h *homeStack) { at(h.values, "nodes", 1)["address"] = "192.168.1.21" }, "nodes[1].address", "192.168.1.21 is already used by nodes[0].staticAddress"},
		{"install address is a device's", func(h *homeStack) { at(h.values, "nodes", 2)["address"] = "192.168.1.60" }, "nodes[2].address", "already used by devices.kitchen-switch"},
		{"install address is the controller's", func(h *homeStack) { at(h.values, "nodes", 0)["address"] = "192.168.1.2" }, "nodes[0].address", "already used by networkController.address"},
		{"gateway is the network address", func(h *homeStack) { at(h.values, "nodes", 0)["gateway"] = "192.168.1.0" }, "nodes[0].gateway", "network address of 192.168.1.0/24"},
		{"gateway is the broadcast address", func(h *homeStack) { at(h.values, "nodes", 1)["gateway"] = "192.168.1.255" }, "nodes[1].gateway", "broadcast address of 192.168.1.0/24"},
		{"gateway is another node's static address", func(h *homeStack) { at(h.values, "nodes", 0)["gateway"] = "192.168.1.22" }, "nodes[0].gateway", "is nodes[1].staticAddress, another node's address"},
		{"gateway is another node's install address", func(h *homeStack) { at(h.values, "nodes", 2)["gateway"] = "192.168.1.121" }, "nodes[2].gateway", "is nodes[0].address, another node's address"},
		{"dns is loopback", func(h *homeStack) { at(h.values, "nodes", 0)["dns"] = []any{"127.0.0.53"} }, "nodes[0].dns[0]", "loopback"},
		{"dns listed twice", func(h *homeStack) { at(h.values, "nodes", 1)["dns"] = []any{"192.168.1.1", "9.9.9.9", "192.168.1.1"} }, "nodes[1].dns[2]", "already nodes[1].dns[0]"},
		{"dns is the node itself", func(h *homeStack) { at(h.values, "nodes", 2)["dns"] = []any{"192.168.1.23"} }, "nodes[2].dns[0]", "the node's own address"},
		{"one host key on two nodes", func(h *homeStack) {
			_, pub := testKey(t)
			at(h.values, "nodes", 0)["hostKey"] = pub
			at(h.values, "nodes", 2)["hostKey"] = strings.TrimSuffix(pub, "\n") + " a-comment"
		}, "nodes[2].hostKey", "already the pinned key of nodes[0]"},
		{"hosts entry named like a node", func(h *homeStack) { at(h.values, "system", "hosts")["node2"] = "192.168.1.99" }, "system.hosts.node2", `"node2" is already the name of nodes[1]`},
	}
	require.GreaterOrEqual(t, len(cases), 25)
	paths := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := loadHome(t)
			tc.break_(h)
			cfg, err := LoadFrom(h.source(t))
			require.Error(t, err)
			assert.Nil(t, cfg)
			var probs Problems
			require.ErrorAs(t, err, &probs)
			require.Len(t, probs, 1, "exactly one problem expected, got:\n%v", err)
			assert.Equal(t, tc.path, probs[0].Path)
			assert.Contains(t, probs[0].Msg, tc.msg)
			assert.Contains(t, err.Error(), tc.path+": ")
		})
		paths[tc.path] = true
	}
	assert.GreaterOrEqual(t, len(paths), 25, "distinct paths covered")
}

func TestInstallAddressMayBeTheNodesOwnStaticAddress(t *testing.T) {
	// Once the install-time lease is gone, address is set to the static one.
	h := loadHome(t)
	at(h.values, "nodes", 1)["address"] = "192.168.1.22"
	_, err := LoadFrom(h.source(t))
	require.NoError(t, err)
}

func TestSecretsMustBeSetAsSecrets(t *testing.T) {
	h := loadHome(t)
	src := h.source(t)
	src.secret["sshPrivateKey"] = false
	src.secret["nodes"] = true // a nested `secure:` value makes the whole key secret
	_, err := LoadFrom(src)
	require.Error(t, err)
	var probs Problems
	require.ErrorAs(t, err, &probs)
	byPath := map[string]string{}
	for _, p := range probs {
		byPath[p.Path] = p.Msg
	}
	assert.Contains(t, byPath["sshPrivateKey"], "stored in plain text")
	assert.Contains(t, byPath["nodes"], "holds a secure value")
	assert.NotContains(t, err.Error(), "PRIVATE KEY", "a secret value never reaches an error")
}

func TestSecretValuesNeverInProblems(t *testing.T) {
	h := loadHome(t)
	h.secrets["appSecrets"] = `{"homebridge":{"pin":12345678},"sonos":{"api-key":"s3cr3t-api-key"},"ghost":{"x":"y"}}`
	_, err := LoadFrom(h.source(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "appSecrets.homebridge.pin: expected a string value")
	assert.Contains(t, err.Error(), "appSecrets.ghost: names no app")
	assert.NotContains(t, err.Error(), "12345678")
	assert.NotContains(t, err.Error(), "s3cr3t")
}

func TestAllProblemsAtOnce(t *testing.T) {
	h := loadHome(t)
	at(h.values, "nodes", 1)["address"] = "10.0.0.300"
	at(h.values, "apps", 3)["schedule"] = "whenever"
	at(h.values, "devices")["porch-switch"] = "nope"
	delete(h.secrets, "resticPassword")
	_, err := LoadFrom(h.source(t))
	var probs Problems
	require.ErrorAs(t, err, &probs)
	assert.Len(t, probs, 4, err.Error())
	assert.True(t, strings.HasPrefix(err.Error(), "invalid configuration, nothing was changed (4 problems):"))
}

func TestRSAErrorExplains(t *testing.T) {
	_, pub := rsaKey(t)
	v := &validator{c: &Config{}}
	v.hostKey("nodes[0].hostKey", pub)
	require.Len(t, v.probs, 1)
	assert.Contains(t, v.probs[0].Msg, "OpenSSH refuses ssh-rsa")
	assert.Contains(t, v.probs[0].Msg, "ssh-keyscan -t ed25519")
}
