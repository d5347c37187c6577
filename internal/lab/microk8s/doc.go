// Package microk8s is a TEST DOUBLE of snapd and the microk8s snap for the lab's
// Docker test hosts, where snapd cannot run. It is written from microk8s' and
// its cluster agent's public source and from ../shared/MICROK8S.md (read, never
// copied) and reproduces what the project's scripts see: outputs, errors, exit
// codes and the files under /var/snap/microk8s. One binary,
// cmd/fake-microk8s, is called as `snap`, `microk8s` (or `microk8s.<cmd>`) and,
// as the cluster agent, `snap run microk8s.daemon-cluster-agent` (or
// `microk8s-agent`).
//
// What the real thing does that this one does too: `snap install --classic
// --channel`, refresh --hold, list, remove; the launch configuration read once
// at install (first of /etc/microk8s.yaml, /root/snap/microk8s/common/.microk8s.yaml,
// /var/snap/microk8s/common/.microk8s.yaml, else the snap's default, which
// enables dns) and etc/launcher/*.yaml applied by the agent (every 5 s) and
// renamed *.applied; status, add-node, join over real HTTPS to the issuer's agent
// on :25000 with the sha256(DER server.crt) check, leave, remove-node, config,
// enable/disable, start/stop, kubectl. Membership, Kubernetes Node objects,
// cluster-wide addons and the cluster CA are one replicated document with a
// version counter (State); a mutation on a member bumps it and pushes it to
// every reachable member, and each agent syncs every few seconds, so the cluster
// survives losing any one of three members. Every command appends one line to
// /var/log/homelab-lab/microk8s.log (RFC3339 time, the command with tokens and
// join strings as ***, the exit code).
//
// Where it is simpler than the real thing:
//   - nothing runs: no containerd, kubelite or dqlite; "Kubernetes" is the
//     replicated document, and an addon is enabled when the document says so
//     (addons that are a file on the node — community, ha-cluster, helm,
//     host-access, cis-hardening — are that file). Addon scripts print short
//     versions of their real output; openebs prints an invented last line.
//   - dqlite is a versioned document with last-writer-wins (higher version, then
//     origin address), not Raft; roles are the first three members voters, the
//     rest standby; ready means the node is a member at an address it still has,
//     not stopped, with more than half the voters answering.
//   - join takes no time (the real one 15–100 s), does not check that the
//     joiner's hostname resolves, and only the issuer's agent adds the joiner.
//     Connection errors print a shortened Python traceback.
//   - certificates are ECDSA P-256 (microk8s uses RSA); leave makes a new CA.
//   - snapd: a record under /var/lib/snapd/homelab-fake, a fixed table of
//     tracks and versions (1.26–1.33, latest = 1.32), no snapshots, no
//     `snap set`; services are only the cluster agent's unit.
//   - the store's and snapd's less common error texts are approximations.
//
// What the lab provides on a host: the binary bind-mounted as /usr/bin/snap
// (install links /snap/bin/microk8s and microk8s.* to it and writes
// /etc/systemd/system/snap.microk8s.daemon-cluster-agent.service running
// `/usr/bin/snap run microk8s.daemon-cluster-agent`, enabled with systemctl);
// CredentialsDir (/var/lib/homelab-lab/kube/{ca.crt,client.crt,client.key}) with
// its API server's CA and an admin client certificate, which `microk8s config`
// hands out (without them the node's own CA signs one); and a kubectl at
// KubectlPath (/var/lib/homelab-lab/bin/kubectl) for `microk8s kubectl`. The
// Kube interface is the hook through which enabling an addon could apply its
// objects to that API server; nothing implements it yet.
package microk8s
