package microk8s

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"
)

// Dqlite roles, as cluster.yaml numbers them.
const (
	RoleVoter   = 0
	RoleStandby = 1
	RoleSpare   = 2
)

// dqlitePort is the port microk8s' dqlite listens on.
const dqlitePort = "19001"

// State is the one replicated document standing in for dqlite and the Kubernetes
// objects microk8s keeps in it: members, Kubernetes nodes, cluster-wide addons
// and the cluster CA. Every mutation bumps Version; a member stores a pushed copy
// only when it is newer (same ClusterID and Secret).
type State struct {
	ClusterID string `yaml:"clusterID" json:"clusterID"`
	// Secret authenticates pushes between members.
	Secret  string `yaml:"secret" json:"secret"`
	Version int64  `yaml:"version" json:"version"`
	// Origin is the address of the member that wrote this version (a tie-break).
	Origin            string              `yaml:"origin" json:"origin"`
	CA                string              `yaml:"ca" json:"ca"`
	CAKey             string              `yaml:"caKey" json:"caKey"`
	ServiceAccountKey string              `yaml:"serviceAccountKey" json:"serviceAccountKey"`
	ClusterCert       string              `yaml:"clusterCert" json:"clusterCert"`
	ClusterKey        string              `yaml:"clusterKey" json:"clusterKey"`
	Members           []Member            `yaml:"members" json:"members"`
	Nodes             []Node              `yaml:"nodes" json:"nodes"`
	Addons            map[string][]string `yaml:"addons" json:"addons"`
}

// Member is a dqlite node.
type Member struct {
	Address  string `yaml:"address" json:"address"`
	ID       uint64 `yaml:"id" json:"id"`
	Role     int    `yaml:"role" json:"role"`
	Hostname string `yaml:"hostname" json:"hostname"`
}

// IP is the member's address without the port.
func (m Member) IP() string {
	h, _, _ := net.SplitHostPort(m.Address)
	return h
}

// Node is a Kubernetes Node object.
type Node struct {
	Name   string `yaml:"name" json:"name"`
	IP     string `yaml:"ip" json:"ip"`
	Worker bool   `yaml:"worker,omitempty" json:"worker,omitempty"`
}

// newer says whether s should replace old.
func (s *State) newer(old *State) bool {
	if s.Version != old.Version {
		return s.Version > old.Version
	}
	return s.Origin > old.Origin
}

// adjustRoles makes the first three members voters and the rest standbys.
func (s *State) adjustRoles() {
	for i := range s.Members {
		if i < 3 {
			s.Members[i].Role = RoleVoter
		} else {
			s.Members[i].Role = RoleStandby
		}
	}
}

func (s *State) member(id uint64) (Member, bool) {
	for _, m := range s.Members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

func (s *State) memberByIP(ip string) (Member, bool) {
	for _, m := range s.Members {
		if m.IP() == ip {
			return m, true
		}
	}
	return Member{}, false
}

func (s *State) removeMember(id uint64) {
	s.Members = slices.DeleteFunc(s.Members, func(m Member) bool { return m.ID == id })
	s.adjustRoles()
}

func (s *State) setNode(n Node) {
	for i := range s.Nodes {
		if s.Nodes[i].Name == n.Name {
			s.Nodes[i] = n
			return
		}
	}
	s.Nodes = append(s.Nodes, n)
}

func (s *State) nodeByName(name string) (Node, bool) {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

func (s *State) nodeByIP(ip string) (Node, bool) {
	for _, n := range s.Nodes {
		if n.IP == ip {
			return n, true
		}
	}
	return Node{}, false
}

func (s *State) voters() []Member {
	var v []Member
	for _, m := range s.Members {
		if m.Role == RoleVoter {
			v = append(v, m)
		}
	}
	return v
}

func (s *State) clone() *State {
	c := *s
	c.Members = slices.Clone(s.Members)
	c.Nodes = slices.Clone(s.Nodes)
	c.Addons = make(map[string][]string, len(s.Addons))
	for k, v := range s.Addons {
		c.Addons[k] = slices.Clone(v)
	}
	return &c
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 1
}

// Info is a member's own dqlite identity (info.yaml).
type Info struct {
	Address string `yaml:"Address"`
	ID      uint64 `yaml:"ID"`
	Role    int    `yaml:"Role"`
}

func (h *Host) statePath() string { return h.backend("homelab-fake-state.yaml") }

// loadState reads this host's copy of the cluster document.
func (h *Host) loadState() (*State, error) {
	b, err := os.ReadFile(h.statePath())
	if err != nil {
		return nil, fmt.Errorf("reading the cluster state: %w", err)
	}
	s := &State{}
	if err := yaml.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("parsing the cluster state: %w", err)
	}
	if s.Addons == nil {
		s.Addons = map[string][]string{}
	}
	return s, nil
}

func (h *Host) loadInfo() (Info, error) {
	var i Info
	b, err := os.ReadFile(h.backend("info.yaml"))
	if err != nil {
		return i, err
	}
	return i, yaml.Unmarshal(b, &i)
}

// saveState writes the document and what a script reads from it: cluster.yaml
// (dqlite's node list) and info.yaml (this member's address, ID and role).
func (h *Host) saveState(s *State) error {
	b, err := yaml.Marshal(s)
	if err != nil {
		return err
	}
	if err := writeFile(h.statePath(), b, 0o600); err != nil {
		return fmt.Errorf("writing the cluster state: %w", err)
	}
	var cl strings.Builder
	for _, m := range s.Members {
		fmt.Fprintf(&cl, "- Address: %s\n  ID: %d\n  Role: %d\n", m.Address, m.ID, m.Role)
	}
	if len(s.Members) == 0 {
		cl.WriteString("[]\n")
	}
	if err := writeFile(h.backend("cluster.yaml"), []byte(cl.String()), 0o644); err != nil {
		return err
	}
	info, err := h.loadInfo()
	if err == nil {
		if m, ok := s.member(info.ID); ok && (m.Address != info.Address || m.Role != info.Role) {
			info.Address, info.Role = m.Address, m.Role
			if err := h.saveInfo(info); err != nil {
				return err
			}
		}
	}
	return nil
}

func (h *Host) saveInfo(i Info) error {
	return writeFile(h.backend("info.yaml"), fmt.Appendf(nil, "Address: %s\nID: %d\nRole: %d\n", i.Address, i.ID, i.Role), 0o644)
}

// withLock runs fn holding the host's state lock (flock, so the CLI and the
// agent, separate processes on a lab host, take turns).
func (h *Host) withLock(fn func() error) error {
	p := h.snapData("var", "lock", ".homelab-fake-state.lock")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }()
	return fn()
}

// errNoChange lets a mutate function say it changed nothing.
var errNoChange = errors.New("no change")
