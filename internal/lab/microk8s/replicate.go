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
	"sync"
	"time"
)

// Paths of the fake's own agent API, beside the real /cluster/api/v2.0/join.
const (
	pingPath   = "/homelab-fake/v1/ping"
	statePath  = "/homelab-fake/v1/state"
	secretHdr  = "X-Homelab-Fake-Secret"
	joinPathV2 = "/cluster/api/v2.0/join"
)

// agentPort is the port in args/cluster-agent's --bind (25000).
func (h *Host) agentPort() string {
	_, port, err := net.SplitHostPort(h.serviceArg("cluster-agent", "--bind"))
	if err != nil || port == "" {
		return "25000"
	}
	return port
}

// httpClient talks to other agents from this host's own address (so the agent
// it calls sees the right remote IP), trusting any certificate as microk8s does;
// verify, when set, checks the peer's certificate during the handshake.
func (h *Host) httpClient(timeout time.Duration, verify func(tls.ConnectionState) error) *http.Client {
	d := &net.Dialer{Timeout: timeout}
	if h.IP.IsValid() {
		// Several fake hosts on one machine (tests): each speaks from its own address.
		d.LocalAddr = &net.TCPAddr{IP: net.IP(h.IP.AsSlice())}
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       d.DialContext,
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, VerifyConnection: verify}, //nolint:gosec // microk8s verifies by fingerprint, not by CA
			DisableKeepAlives: true,
		},
	}
}

func (h *Host) peerTimeout() time.Duration { return orDefault(h.PeerTimeout, 2*time.Second) }

type pingReply struct {
	ClusterID string `json:"clusterID"`
	Version   int64  `json:"version"`
	Running   bool   `json:"running"`
}

func (h *Host) agentURL(ip, path string) string {
	return "https://" + net.JoinHostPort(ip, h.agentPort()) + path
}

func (h *Host) ping(ctx context.Context, ip string) (pingReply, error) {
	var r pingReply
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.agentURL(ip, pingPath), nil)
	if err != nil {
		return r, err
	}
	resp, err := h.httpClient(h.peerTimeout(), nil).Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// peers are the members other than self (and other than the excluded IPs).
func peers(st *State, selfID uint64, exclude ...string) []Member {
	var out []Member
	for _, m := range st.Members {
		if m.ID == selfID || m.IP() == "127.0.0.1" {
			continue
		}
		skip := false
		for _, e := range exclude {
			skip = skip || m.IP() == e
		}
		if !skip {
			out = append(out, m)
		}
	}
	return out
}

// quorum says whether more than half of the voters answer and run.
func (h *Host) quorum(ctx context.Context, st *State, selfID uint64) bool {
	voters := st.voters()
	var mu sync.Mutex
	up := 0
	var wg sync.WaitGroup
	for _, v := range voters {
		if v.ID == selfID {
			if !exists(h.lock("stopped.lock")) {
				up++
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := h.ping(ctx, v.IP())
			if err == nil && r.Running && r.ClusterID == st.ClusterID {
				mu.Lock()
				up++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return up*2 > len(voters)
}

func (h *Host) fetchState(ctx context.Context, ip, secret string) (*State, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.agentURL(ip, statePath), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(secretHdr, secret)
	resp, err := h.httpClient(h.peerTimeout(), nil).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", ip, resp.Status)
	}
	s := &State{}
	return s, json.NewDecoder(resp.Body).Decode(s)
}

func (h *Host) pushState(ctx context.Context, ip string, st *State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.agentURL(ip, statePath), bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set(secretHdr, st.Secret)
	resp, err := h.httpClient(h.peerTimeout(), nil).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", ip, resp.Status)
	}
	return nil
}

// push sends st to every peer, returning how many stored (or already had) it.
func (h *Host) push(ctx context.Context, st *State, selfID uint64, exclude ...string) (int, []error) {
	ps := peers(st, selfID, exclude...)
	var mu sync.Mutex
	ok := 0
	var errs []error
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := h.pushState(ctx, p.IP(), st)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			ok++
		}()
	}
	wg.Wait()
	return ok, errs
}

// adopt stores st when it is a newer version of this host's cluster.
func (h *Host) adopt(st *State) (bool, error) {
	stored := false
	err := h.withLock(func() error {
		cur, err := h.loadState()
		if err != nil {
			return err
		}
		if st.ClusterID != cur.ClusterID || st.Secret != cur.Secret {
			return errors.New("not this cluster")
		}
		if !st.newer(cur) {
			return nil
		}
		stored = true
		return h.saveState(st)
	})
	return stored, err
}

// pullNewest fetches the members' copies and keeps the newest.
func (h *Host) pullNewest(ctx context.Context) {
	st, err := h.loadState()
	if err != nil {
		return
	}
	info, err := h.loadInfo()
	if err != nil {
		return
	}
	var mu sync.Mutex
	var best *State
	var wg sync.WaitGroup
	for _, p := range peers(st, info.ID) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := h.fetchState(ctx, p.IP(), st.Secret)
			if err != nil || s.ClusterID != st.ClusterID {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if best == nil || s.newer(best) {
				best = s
			}
		}()
	}
	wg.Wait()
	if best != nil && best.newer(st) {
		_, _ = h.adopt(best)
	}
}

// Sync is one round of the agent's replication: pull the newest copy from the
// members, then push this host's copy to those that are behind. The agent runs
// it every SyncInterval; tests call it directly.
func (h *Host) Sync(ctx context.Context) {
	if !h.Installed() || exists(h.lock("stopped.lock")) {
		return
	}
	h.pullNewest(ctx)
	st, err := h.loadState()
	if err != nil {
		return
	}
	info, err := h.loadInfo()
	if err != nil {
		return
	}
	for _, p := range peers(st, info.ID) {
		r, err := h.ping(ctx, p.IP())
		if err == nil && r.ClusterID == st.ClusterID && r.Version < st.Version {
			_ = h.pushState(ctx, p.IP(), st)
		}
	}
}

var errNoQuorum = errors.New("context deadline exceeded")

// mutate changes the replicated state on this member: it catches up with the
// members first, needs a quorum of voters, bumps the version and pushes the
// result to every reachable member.
func (h *Host) mutate(ctx context.Context, fn func(*State) error, exclude ...string) error {
	h.pullNewest(ctx)
	st, err := h.loadState()
	if err != nil {
		return err
	}
	info, err := h.loadInfo()
	if err != nil {
		return err
	}
	if !h.quorum(ctx, st, info.ID) {
		return errNoQuorum
	}
	var out *State
	err = h.withLock(func() error {
		st, err := h.loadState()
		if err != nil {
			return err
		}
		if err := fn(st); err != nil {
			return err
		}
		st.Version++
		if i, err := h.loadInfo(); err == nil {
			if m, ok := st.member(i.ID); ok {
				st.Origin = m.Address
			}
		}
		out = st
		return h.saveState(st)
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	if err != nil {
		return err
	}
	h.push(ctx, out, info.ID, exclude...)
	return nil
}
