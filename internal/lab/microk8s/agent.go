package microk8s

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Agent is the cluster agent: the HTTPS server on :25000 that answers joins and
// exchanges the replicated state, and the loops that apply etc/launcher files
// and sync with the other members.
type Agent struct {
	h      *Host
	ln     net.Listener
	srv    *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Addr is where the agent listens.
func (a *Agent) Addr() string { return a.ln.Addr().String() }

// StartAgent starts the agent: it serves certs/server.crt (read at each
// handshake, so a re-issued certificate is served at once) on AgentListen or
// args/cluster-agent's --bind, and catches up with the members first.
func (h *Host) StartAgent(ctx context.Context) (*Agent, error) {
	addr := h.AgentListen
	if addr == "" {
		addr = h.serviceArg("cluster-agent", "--bind")
	}
	if addr == "" {
		addr = "0.0.0.0:25000"
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(h.snapData("certs", "server.crt"), h.snapData("certs", "server.key"))
			if err != nil {
				return nil, err
			}
			return &c, nil
		},
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &Agent{h: h, ln: ln, cancel: cancel}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pingPath, a.handlePing)
	mux.HandleFunc("GET "+statePath, a.handleGetState)
	mux.HandleFunc("POST "+statePath, a.handlePostState)
	mux.HandleFunc("POST "+joinPathV2, a.handleJoin)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0), BaseContext: func(net.Listener) context.Context { return ctx }}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		_ = a.srv.Serve(tls.NewListener(ln, cfg))
	}()
	// Catch up with the members before answering for this node's state.
	h.Sync(ctx)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		launch := time.NewTicker(orDefault(h.LauncherInterval, 5*time.Second))
		sync := time.NewTicker(orDefault(h.SyncInterval, 3*time.Second))
		defer launch.Stop()
		defer sync.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-launch.C:
				if h.Installed() {
					h.ApplyLauncher(ctx)
				}
			case <-sync.C:
				h.Sync(ctx)
			}
		}
	}()
	return a, nil
}

// Close stops the agent.
func (a *Agent) Close() error {
	a.cancel()
	err := a.srv.Close()
	a.wg.Wait()
	return err
}

// RunAgent runs the agent until ctx ends (the systemd unit's process).
func (h *Host) RunAgent(ctx context.Context) error {
	a, err := h.StartAgent(ctx)
	if err != nil {
		return err
	}
	h.logText("agent started on " + a.Addr())
	<-ctx.Done()
	return a.Close()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// httpError is the real agent's error body: {"error": "<Capitalised message>"}.
func httpError(w http.ResponseWriter, code int, msg string) {
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

func (a *Agent) running() bool {
	return a.h.Installed() && !exists(a.h.lock("stopped.lock"))
}

func (a *Agent) handlePing(w http.ResponseWriter, _ *http.Request) {
	r := pingReply{Running: a.running()}
	if st, err := a.h.loadState(); err == nil {
		r.ClusterID, r.Version = st.ClusterID, st.Version
	}
	writeJSON(w, http.StatusOK, r)
}

func (a *Agent) authorised(r *http.Request) (*State, bool) {
	st, err := a.h.loadState()
	if err != nil || !a.running() {
		return nil, false
	}
	return st, r.Header.Get(secretHdr) == st.Secret
}

func (a *Agent) handleGetState(w http.ResponseWriter, r *http.Request) {
	st, ok := a.authorised(r)
	if !ok {
		httpError(w, http.StatusForbidden, "not a member of this cluster")
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *Agent) handlePostState(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.authorised(r); !ok {
		httpError(w, http.StatusForbidden, "not a member of this cluster")
		return
	}
	st := &State{}
	if err := json.NewDecoder(r.Body).Decode(st); err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	stored, err := a.h.adopt(st)
	if err != nil {
		httpError(w, http.StatusConflict, err.Error())
		return
	}
	if stored {
		a.h.logText(fmt.Sprintf("agent stored state version %d from %s", st.Version, st.Origin))
	}
	writeJSON(w, http.StatusOK, map[string]bool{"stored": stored})
}

// joinRequest is the v2/join request as join.py sends it.
type joinRequest struct {
	Token    string          `json:"token"`
	Hostname string          `json:"hostname"`
	Port     string          `json:"port"`
	Worker   json.RawMessage `json:"worker"`
}

func (j joinRequest) worker() bool {
	w := bytes.TrimSpace(j.Worker)
	return bytes.Equal(w, []byte("true")) || bytes.Equal(w, []byte(`"as-worker"`))
}

// joinResponse carries what the real one does (names as join.py reads them)
// plus the replicated state for a control-plane joiner.
type joinResponse struct {
	CA                string   `json:"ca"`
	CAKey             *string  `json:"ca_key"`
	ServiceAccountKey string   `json:"service_account_key"`
	ClusterCert       string   `json:"cluster_cert,omitempty"`
	ClusterKey        string   `json:"cluster_key,omitempty"`
	Voters            []string `json:"voters,omitempty"`
	HostnameOverride  string   `json:"hostname_override"`
	APIPort           string   `json:"apiport"`
	KubeletArgs       string   `json:"kubelet_args"`
	CallbackToken     string   `json:"callback_token"`
	ControlPlaneNodes []string `json:"control_plane_nodes"`
	MemberID          uint64   `json:"homelab_member_id,omitempty"`
	State             *State   `json:"homelab_state,omitempty"`
}

// consumeToken is the agent's ConsumeClusterToken: persistent tokens always
// pass; a cluster token passes until its expiry, and one without a TTL is
// deleted at its first check, whatever happens to the join afterwards.
func (h *Host) consumeToken(token string) bool {
	if token == "" {
		return false
	}
	ok := false
	_ = h.withLock(func() error {
		if valid, _ := h.tokenValid(token, h.snapData("credentials", "persistent-cluster-tokens.txt")); valid {
			ok = true
			return nil
		}
		p := h.snapData("credentials", "cluster-tokens.txt")
		valid, ttl := h.tokenValid(token, p)
		if valid && !ttl {
			removeToken(p, token)
		}
		ok = valid
		return nil
	})
	return ok
}

func (h *Host) tokenValid(token, file string) (valid, hasTTL bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return false, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		t, exp, withTTL := strings.Cut(strings.TrimSpace(line), "|")
		if t != token {
			continue
		}
		if !withTTL {
			return true, false
		}
		var ts int64
		if _, err := fmt.Sscan(exp, &ts); err != nil {
			return false, true
		}
		return h.now().Before(time.Unix(ts, 0)), true
	}
	return false, false
}

func removeToken(file, token string) {
	b, err := os.ReadFile(file)
	if err != nil {
		return
	}
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		if t, _, _ := strings.Cut(strings.TrimSpace(line), "|"); t == token || strings.TrimSpace(line) == "" {
			continue
		}
		keep = append(keep, line)
	}
	out := strings.Join(keep, "\n")
	if out != "" {
		out += "\n"
	}
	_ = writeFile(file, []byte(out), 0o660)
}

var errKnown = errors.New("known")

func (a *Agent) handleJoin(w http.ResponseWriter, r *http.Request) {
	h := a.h
	var req joinRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		httpError(w, http.StatusBadRequest, "failed to unmarshal JSON: "+err.Error())
		return
	}
	remoteIP, _, _ := net.SplitHostPort(r.RemoteAddr)
	var hostIP string
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		hostIP, _, _ = net.SplitHostPort(la.String())
	}
	code, msg := a.join(r.Context(), req, remoteIP, hostIP, w)
	h.logText(fmt.Sprintf("agent join from %s worker=%t status=%d", remoteIP, req.worker(), code))
	if code != http.StatusOK {
		httpError(w, code, msg)
	}
}

// join is the v2/join handler's logic, in the real one's order; on success it
// has written the response itself.
func (a *Agent) join(ctx context.Context, req joinRequest, remoteIP, hostIP string, w http.ResponseWriter) (int, string) {
	h := a.h
	if !a.running() {
		return http.StatusServiceUnavailable, "microk8s is not running"
	}
	if !h.consumeToken(req.Token) {
		return http.StatusInternalServerError, "invalid token"
	}
	if !exists(h.lock("ha-cluster")) {
		return http.StatusNotImplemented, "not possible to join. This is not an HA MicroK8s cluster"
	}
	if port := h.agentPort(); port != req.Port {
		return http.StatusBadGateway, fmt.Sprintf("the port of the cluster agent port has to be set to %s", port)
	}
	if remoteIP == hostIP {
		return http.StatusServiceUnavailable, fmt.Sprintf("the joining node has the same IP (%s) as the node we contact", hostIP)
	}
	joinerID := randomID()
	var final *State
	err := h.mutate(ctx, func(st *State) error {
		for _, m := range st.Members {
			if strings.HasPrefix(m.Address, remoteIP+":") {
				return errKnown
			}
		}
		if len(st.Members) == 1 && strings.HasPrefix(st.Members[0].Address, "127.0.0.1:") {
			st.Members[0].Address = net.JoinHostPort(hostIP, dqlitePort)
			for i := range st.Nodes {
				if st.Nodes[i].Name == st.Members[0].Hostname {
					st.Nodes[i].IP = hostIP
				}
			}
		}
		if !req.worker() {
			st.Members = append(st.Members, Member{Address: net.JoinHostPort(remoteIP, dqlitePort), ID: joinerID, Role: RoleSpare, Hostname: req.Hostname})
			st.adjustRoles()
		}
		st.setNode(Node{Name: req.Hostname, IP: remoteIP, Worker: req.worker()})
		final = st
		return nil
	}, remoteIP)
	switch {
	case errors.Is(err, errKnown):
		return http.StatusInternalServerError, fmt.Sprintf("failed to retrieve dqlite cluster nodes: the joining node (%s) is already known to dqlite", remoteIP)
	case errors.Is(err, errNoQuorum):
		return http.StatusInternalServerError, "failed to retrieve dqlite cluster nodes: " + err.Error()
	case err != nil:
		return http.StatusInternalServerError, err.Error()
	}
	if err := touch(h.lock("no-cert-reissue")); err != nil {
		return http.StatusInternalServerError, "failed to create lock file to disable certificate reissuing: " + err.Error()
	}
	kubelet, _ := os.ReadFile(h.snapData("args", "kubelet"))
	resp := joinResponse{
		CA:               final.CA,
		HostnameOverride: remoteIP,
		APIPort:          h.serviceArg("kube-apiserver", "--secure-port"),
		KubeletArgs:      string(kubelet),
		CallbackToken:    randomHex(32),
	}
	if req.worker() {
		for _, m := range final.Members {
			resp.ControlPlaneNodes = append(resp.ControlPlaneNodes, m.IP())
		}
	} else {
		resp.CAKey = &final.CAKey
		resp.ServiceAccountKey = final.ServiceAccountKey
		resp.ClusterCert, resp.ClusterKey = final.ClusterCert, final.ClusterKey
		for _, m := range final.voters() {
			resp.Voters = append(resp.Voters, m.Address)
		}
		resp.MemberID = joinerID
		resp.State = final
	}
	writeJSON(w, http.StatusOK, resp)
	return http.StatusOK, ""
}
