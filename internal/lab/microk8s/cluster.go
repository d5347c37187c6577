package microk8s

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func (in *inv) addNode(args []string) int {
	h := in.h
	if exists(h.lock("clustered.lock")) {
		in.outln("This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s add-node on the master.")
		return 1
	}
	if strings.Contains(strings.Join(args, " "), "help") {
		in.outln("usage: microk8s add-node [-h] [--token-ttl TOKEN_TTL] [--token TOKEN]\n                         [--format {pretty,short,token,token-check,json,yaml}]\n\nProduce a connection string for a node to join the cluster.")
		return 0
	}
	if in.exitIfStopped() {
		return 1
	}
	usage := "usage: microk8s add-node [-h] [--token-ttl TOKEN_TTL] [--token TOKEN] [--format {pretty,short,token,token-check,json,yaml}]"
	ttl, token, format := int64(-1), "", "pretty"
	for i := 0; i < len(args); i++ {
		k, v, hasV := strings.Cut(args[i], "=")
		if k != "--token-ttl" && k != "-l" && k != "--token" && k != "-t" && k != "--format" {
			in.errln(usage + "\nmicrok8s add-node: error: unrecognized arguments: " + args[i])
			return 2
		}
		if !hasV {
			if i+1 >= len(args) {
				in.errln(fmt.Sprintf("%s\nmicrok8s add-node: error: argument %s: expected one argument", usage, k))
				return 2
			}
			i++
			v = args[i]
		}
		switch k {
		case "--token-ttl", "-l":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				in.errln(fmt.Sprintf("%s\nmicrok8s add-node: error: argument --token-ttl/-l: invalid int value: '%s'", usage, v))
				return 2
			}
			ttl = n
		case "--token", "-t":
			token = v
		case "--format":
			switch v {
			case "pretty", "short", "token", "token-check", "json", "yaml":
			default:
				in.errln(fmt.Sprintf("%s\nmicrok8s add-node: error: argument --format: invalid choice: '%s'", usage, v))
				return 2
			}
			format = v
		}
	}
	if token == "" {
		token = randomHex(16)
	}
	if len(token) < 32 {
		in.outln("Invalid token size.  It must be 32 characters long.")
		return 1
	}
	line := token
	if ttl != -1 {
		line = fmt.Sprintf("%s|%d", token, h.now().Unix()+ttl)
	}
	if err := h.withLock(func() error { return appendLine(h.snapData("credentials", "cluster-tokens.txt"), line) }); err != nil {
		in.errln(err.Error())
		return 1
	}
	crt, err := os.ReadFile(h.snapData("certs", "server.crt"))
	if err != nil {
		in.outln("Failed to call utility function.")
		return 1
	}
	check, err := certCheck(crt)
	if err != nil {
		in.outln("Failed to call utility function.")
		return 1
	}
	def, port := h.defaultIP().String(), h.agentPort()
	var all []string
	for _, ip := range h.allIPs() {
		all = append(all, ip.String())
	}
	join := func(ip string) string { return fmt.Sprintf("%s:%s/%s/%s", ip, port, token, check) }
	switch format {
	case "pretty":
		in.outln("From the node you wish to join to this cluster, run the following:")
		in.outln("microk8s join " + join(def) + "\n")
		in.outln("Use the '--worker' flag to join a node as a worker not running the control plane, eg:")
		in.outln("microk8s join " + join(def) + " --worker\n")
		in.outln("If the node you are adding is not reachable through the default interface you can use one of the following:")
		for _, ip := range all {
			in.outln("microk8s join " + join(ip))
		}
	case "short":
		in.outln("microk8s join " + join(def))
		for _, ip := range all {
			if ip != def {
				in.outln("microk8s join " + join(ip))
			}
		}
	case "token-check":
		in.outln(token + "/" + check)
	case "json":
		urls := make([]string, len(all))
		for i, ip := range all {
			urls[i] = join(ip)
		}
		b, _ := json.MarshalIndent(map[string]any{"token": token + "/" + check, "urls": urls}, "", "  ")
		in.outln(string(b))
	case "yaml":
		in.outln("token: " + token + "/" + check)
		in.outln("urls:")
		for _, ip := range all {
			in.outln("- " + join(ip))
		}
		in.outln("")
	default:
		in.outln(token)
	}
	return 0
}

// connectionParts is get_valid_connection_parts.
func connectionParts(c string) ([]string, error) {
	parts := strings.Split(c, "/")
	const format = "Expected format: <master_IP>:<master_PORT>/<token>[/<fingerprint>]"
	if len(parts) != 2 && len(parts) != 3 {
		return nil, errors.New(format)
	}
	ep := strings.Split(parts[0], ":")
	if len(ep) != 2 {
		return nil, errors.New(format)
	}
	if _, err := netip.ParseAddr(ep[0]); err != nil {
		return nil, errors.New("Invalid master IP")
	}
	port, err := strconv.Atoi(ep[1])
	if err != nil {
		return nil, errors.New("Master PORT not a number")
	}
	if port < 1 || port > 65535 {
		return nil, errors.New("Master PORT not in range 1:65535")
	}
	if len(parts[1]) < 32 {
		return nil, errors.New("Cluster token size should be at least 32 bytes")
	}
	if len(parts) == 3 && len(parts[2]) < 12 {
		return nil, errors.New("Fingerprint should be at least 12 bytes")
	}
	return parts, nil
}

var errFingerprint = errors.New("fingerprint mismatch")

func (in *inv) join(args []string) int {
	h := in.h
	var conn string
	worker, verify := false, true
	for _, a := range args {
		switch a {
		case "--worker":
			worker = true
		case "--controlplane":
			worker = false
		case "--skip-verify":
			verify = false
		case "--disable-low-memory-guard":
		default:
			if strings.HasPrefix(a, "-") || conn != "" {
				continue
			}
			conn = a
		}
	}
	if exists(h.snapCommon("default-storage")) {
		in.outln("WARNING: Hostpath storage is enabled and is not suitable for multi node clusters.\n")
	}
	if conn == "" {
		in.errln("Usage: microk8s join [OPTIONS] CONNECTION\nTry 'microk8s join -h' for help.\n\nError: Missing argument 'CONNECTION'.")
		return 2
	}
	parts, err := connectionParts(conn)
	if err != nil {
		in.outln("Invalid connection: " + err.Error())
		return 1
	}
	masterIP, masterPort, _ := strings.Cut(parts[0], ":")
	token := parts[1]
	fingerprint := ""
	if len(parts) == 3 {
		fingerprint = parts[2]
	} else {
		verify = false
	}
	in.outln("Contacting cluster at " + masterIP)

	var check func(tls.ConnectionState) error
	if verify && fingerprint != "" {
		check = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !strings.HasPrefix(derHex(cs.PeerCertificates[0].Raw), fingerprint) {
				return errFingerprint
			}
			return nil
		}
	}
	workerField := any(false)
	if worker {
		workerField = "as-worker"
	}
	body, _ := json.Marshal(map[string]any{
		"token": token, "hostname": h.hostname(), "port": h.agentPort(), "worker": workerField,
		"can_handle_x509_auth": true, "can_handle_custom_etcd": true,
	})
	req, _ := http.NewRequestWithContext(in.ctx, http.MethodPost, "https://"+net.JoinHostPort(masterIP, masterPort)+joinPathV2, bytes.NewReader(body))
	req.Header.Set("Content-type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := h.httpClient(60*time.Second, check).Do(req)
	if err != nil {
		return in.joinDialError(err, masterIP)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		msg := "Connection failed."
		var e struct {
			Error *string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != nil {
			msg += " " + *e.Error
		}
		in.outln(fmt.Sprintf("%s (%d).", msg, resp.StatusCode))
		return 6
	}
	var info joinResponse
	if err := json.Unmarshal(raw, &info); err != nil {
		in.errln("json.decoder.JSONDecodeError: " + err.Error())
		return 1
	}
	if worker {
		if info.CAKey != nil {
			in.outln("Joining process failed. Make sure the cluster you connect to supports joining worker nodes.")
			return 1
		}
		if err := h.joinWorker(info); err != nil {
			in.errln(err.Error())
			return 1
		}
		in.out("\nThe node has joined the cluster and will appear in the nodes list in a few seconds.\n\nThis worker node gets automatically configured with the API server endpoints.\nIf the API servers are behind a loadbalancer please set the '--refresh-interval' to '0s' in:\n    /var/snap/microk8s/current/args/apiserver-proxy\nand replace the API server endpoints with the one provided by the loadbalancer in:\n    /var/snap/microk8s/current/args/traefik/provider.yaml\n\n")
	} else {
		if info.State == nil {
			in.errln("KeyError: 'cluster_cert'")
			return 1
		}
		if err := h.joinControlPlane(in.ctx, info); err != nil {
			in.errln(err.Error())
			return 1
		}
		in.outln("Waiting for this node to finish joining the cluster. .. ..  ")
	}
	in.outln("Successfully joined the cluster.")
	return 0
}

// joinDialError prints what join.py's uncaught exceptions and handlers print.
func (in *inv) joinDialError(err error, ip string) int {
	switch {
	case errors.Is(err, errFingerprint):
		in.outln(fmt.Sprintf("Joining cluster failed. Could not verify the identity of %s. Use '--skip-verify' to skip server certificate check.", ip))
		return 4
	case errors.Is(err, syscall.ECONNREFUSED):
		in.errln("Traceback (most recent call last):\n  File \"/snap/microk8s/current/scripts/wrappers/join.py\", in get_connection_info\n    conn.connect()\nConnectionRefusedError: [Errno 111] Connection refused")
		return 1
	case isTimeout(err):
		in.errln("Traceback (most recent call last):\n  File \"/snap/microk8s/current/scripts/wrappers/join.py\", in get_connection_info\n    conn.connect()\nTimeoutError: [Errno 110] Connection timed out")
		return 1
	case isTLS(err):
		in.outln(fmt.Sprintf("Peer node verification failed with %v.", err))
		return 4
	}
	in.errln("OSError: " + err.Error())
	return 1
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isTLS(err error) bool {
	var re tls.RecordHeaderError
	var ae tls.AlertError
	return errors.As(err, &re) || errors.As(err, &ae)
}

// joinControlPlane is join_dqlite_master_node: this node's datastore goes to
// backend.backup, the cluster's CA and keys replace its own (*.backup kept).
func (h *Host) joinControlPlane(ctx context.Context, info joinResponse) error {
	return h.withLock(func() error {
		old, _ := h.loadInfo()
		port := dqlitePort
		if _, p, err := net.SplitHostPort(old.Address); err == nil {
			port = p
		}
		backup := h.snapData("var", "kubernetes", "backend.backup")
		if err := os.RemoveAll(backup); err != nil {
			return err
		}
		if err := os.Rename(h.backend(), backup); err != nil {
			return err
		}
		if err := os.MkdirAll(h.backend(), 0o755); err != nil {
			return err
		}
		if err := writeFile(h.backend("cluster.crt"), []byte(info.ClusterCert), 0o600); err != nil {
			return err
		}
		if err := writeFile(h.backend("cluster.key"), []byte(info.ClusterKey), 0o600); err != nil {
			return err
		}
		caKey := ""
		if info.CAKey != nil {
			caKey = *info.CAKey
		}
		if err := h.writeClusterSecrets(info.CA, caKey, info.ServiceAccountKey, true); err != nil {
			return err
		}
		if err := writeFile(h.snapData("args", "kubelet"), []byte(info.KubeletArgs), 0o660); err != nil {
			return err
		}
		if err := writeFile(h.snapData("credentials", "callback-token.txt"), []byte(info.CallbackToken+"\n"), 0o600); err != nil {
			return err
		}
		me := Info{Address: net.JoinHostPort(info.HostnameOverride, port), ID: info.MemberID}
		if m, ok := info.State.member(info.MemberID); ok {
			me.Role = m.Role
		}
		if err := h.saveInfo(me); err != nil {
			return err
		}
		if err := h.saveState(info.State); err != nil {
			return err
		}
		// The kicker re-issues server.crt under the new CA.
		if err := h.issueServerCert(); err != nil {
			return err
		}
		if err := copyBackup(h.snapData("credentials", "client.config")); err != nil {
			return err
		}
		if err := h.writeClientConfig(ctx); err != nil {
			return err
		}
		return touch(h.lock("no-cert-reissue"))
	})
}

// joinWorker is join_dqlite_worker_node.
func (h *Host) joinWorker(info joinResponse) error {
	if err := writeFile(h.snapData("certs", "ca.remote.crt"), []byte(info.CA), 0o600); err != nil {
		return err
	}
	if err := writeFile(h.snapData("args", "kubelet"), []byte(info.KubeletArgs), 0o660); err != nil {
		return err
	}
	if err := writeFile(h.snapData("credentials", "callback-token.txt"), []byte(info.CallbackToken+"\n"), 0o600); err != nil {
		return err
	}
	for _, l := range []string{"clustered.lock", "no-k8s-dqlite", "no-cert-reissue"} {
		if err := touch(h.lock(l)); err != nil {
			return err
		}
	}
	return nil
}

func (in *inv) leave(args []string) int {
	h := in.h
	if in.exitIfStopped() {
		return 1
	}
	if !exists(h.lock("no-cert-reissue")) || (!exists(h.lock("clustered.lock")) && !exists(h.snapData("args", "k8s-dqlite"))) {
		in.outln("This MicroK8s deployment is not acting as a node in a cluster.")
		return 1
	}
	if exists(h.lock("clustered.lock")) {
		in.outln("Configuring services.")
		_ = os.Remove(h.snapData("certs", "ca.remote.crt"))
		in.outln("Generating new cluster certificates.")
		_ = writeFile(h.snapData("args", "kubelet"), []byte(defaultArgs["kubelet"]), 0o660)
		for _, l := range []string{"no-cert-reissue", "clustered.lock", "no-k8s-dqlite"} {
			_ = os.Remove(h.lock(l))
		}
		in.outln("Waiting for node to start.  ")
		return 0
	}
	h.pullNewest(in.ctx)
	st, err := h.loadState()
	if err != nil {
		in.errln(err.Error())
		return 1
	}
	self, _ := h.loadInfo()
	voters, isVoter := 0, false
	for _, m := range st.Members {
		if m.Role == RoleVoter {
			voters++
			if m.ID == self.ID {
				isVoter = true
			}
		}
	}
	if voters == 1 && isVoter && len(st.Members) > 1 {
		in.outln("This node currently holds the only copy of the Kubernetes database so it cannot leave the cluster.")
		in.outln("To remove this node you can either first remove all other nodes with 'microk8s remove-node' or")
		in.outln("form a highly available cluster by adding at least three nodes.")
		return 3
	}
	if m, ok := st.member(self.ID); ok && m.IP() != "127.0.0.1" {
		next := st.clone()
		next.removeMember(self.ID)
		next.Version++
		next.Origin = m.Address
		if ps := peers(next, self.ID); len(ps) > 0 {
			if n, errs := h.push(in.ctx, next, self.ID); n == 0 {
				in.outln(fmt.Sprintf("Contacting node %s failed. Error:", ps[0].Address))
				in.outln(fmt.Sprintf("%v", errors.Join(errs...)))
				return 2
			}
		}
	}
	in.outln("Generating new cluster certificates.")
	err = h.withLock(func() error {
		if err := os.RemoveAll(h.backend()); err != nil {
			return err
		}
		return h.initCluster()
	})
	if err != nil {
		in.errln(err.Error())
		return 1
	}
	_ = os.Remove(h.lock("no-cert-reissue"))
	in.outln("Waiting for node to start.  ")
	return 0
}

func (in *inv) removeNode(args []string) int {
	h := in.h
	if exists(h.lock("clustered.lock")) {
		in.outln("This MicroK8s deployment is acting as a node in a cluster. Please use microk8s leave.")
		return 1
	}
	if len(args) == 0 {
		in.outln("Please provide the node you want to remove.")
		return 1
	}
	if exists(h.lock("ha-cluster")) && len(args) == 2 && args[1] != "--force" {
		in.outln("Please provide the node and the optional --force flag.")
		return 1
	}
	node, force := args[0], len(args) > 1 && args[1] == "--force"
	if node == "--force" && len(args) > 1 {
		node, force = args[1], true
	}
	h.pullNewest(in.ctx)
	st, err := h.loadState()
	if err != nil {
		in.errln(err.Error())
		return 1
	}
	self, _ := h.loadInfo()
	name := node
	if _, err := netip.ParseAddr(node); err == nil {
		if n, ok := st.nodeByIP(node); ok {
			name = n.Name
		}
	}
	kn, ok := st.nodeByName(name)
	if !ok {
		in.outln(fmt.Sprintf("Node %s does not exist in Kubernetes.", name))
		if force {
			in.outln(fmt.Sprintf("Attempting to remove %s from dqlite.", name))
			for _, m := range peers(st, self.ID) {
				if strings.HasPrefix(m.Address, name+":") {
					in.outln("Removing node entry found in dqlite.")
					if err := h.mutate(in.ctx, func(s *State) error { s.removeMember(m.ID); return nil }); err != nil {
						in.outln(fmt.Sprintf("Contacting node %s failed. Error:", self.Address))
						in.outln(err.Error())
						return 2
					}
				}
			}
		}
		return 1
	}
	var member *Member
	for _, m := range peers(st, self.ID) {
		if strings.HasPrefix(m.Address, kn.IP+":") {
			member = &m
		}
	}
	if member != nil && !force {
		in.outln(fmt.Sprintf("Removal failed. Node %s is registered with dqlite. Please, run first 'microk8s leave' on the departing node. \nIf the node is not available anymore and will never attempt to join the cluster in the future use the '--force' flag \nto unregister the node while removing it.", name))
		return 1
	}
	if err := h.kube().NodeRemoved(in.ctx, name); err != nil {
		in.errln(err.Error())
		return 1
	}
	err = h.mutate(in.ctx, func(s *State) error {
		if member != nil {
			s.removeMember(member.ID)
		}
		for i, n := range s.Nodes {
			if n.Name == name {
				s.Nodes = append(s.Nodes[:i], s.Nodes[i+1:]...)
				break
			}
		}
		return nil
	})
	if err != nil {
		in.outln(fmt.Sprintf("Contacting node %s failed. Error:", self.Address))
		in.outln(err.Error())
		return 2
	}
	return 0
}
