//go:build lab

package stacks_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/homeslice/homelab/components/remotenode"
	"github.com/homeslice/homelab/internal/lab"
	"github.com/homeslice/homelab/stacks"
)

// BenchmarkRemoteNode measures what RemoteNode costs a run on 1, 3 and 6 lab
// hosts: ns/op is one facts probe of every node (what each preview and up
// pays before declaring anything); steps/node the commands per node;
// ssh-*/node the SSH sessions each node accepted during the first
// (provisioning) up, during one probe, and during a second, no-op up.
//
//	go test -tags lab -run '^$' -bench BenchmarkRemoteNode -benchtime 5x ./stacks/
func BenchmarkRemoteNode(b *testing.B) {
	for _, count := range []int{1, 3, 6} {
		b.Run(fmt.Sprintf("hosts=%d", count), func(b *testing.B) {
			l := lab.New(b, count, lab.Options{Program: stacks.Home, Project: stacks.Namespace})
			l.WriteNodesConfig()
			for _, n := range l.Nodes() {
				n.Pin()
			}
			logins := func() int {
				total := 0
				for _, n := range l.Nodes() {
					total += n.SSHLogins()
				}
				return total
			}
			perNode := func(v int) float64 { return float64(v) / float64(count) }

			before := logins()
			res := l.Up(nil)
			steps := 0
			for _, name := range res.Changed() {
				if strings.HasPrefix(name, "node") && strings.Contains(name, "-") {
					steps++
				}
			}
			upSessions := logins() - before

			var targets []remotenode.Target
			for i, n := range l.Nodes() {
				targets = append(targets, remotenode.Target{
					Index: i, Name: n.Name(),
					Addresses: []string{n.StaticAddress().String(), n.IP().String()},
					Port:      22, User: l.Network.User(), Signer: l.Network.Signer(), HostKey: n.HostKey(),
				})
			}
			before = logins()
			probes := 0
			for b.Loop() {
				if _, err := remotenode.Gather(context.Background(), targets, remotenode.ProbeOptions{}); err != nil {
					b.Fatal(err)
				}
				probes++
			}
			probeSessions := logins() - before

			before = logins()
			l.Up(nil)
			noopSessions := logins() - before

			b.ReportMetric(perNode(steps), "steps/node")
			b.ReportMetric(perNode(upSessions), "ssh-first-up/node")
			b.ReportMetric(perNode(probeSessions)/float64(probes), "ssh-probe/node")
			b.ReportMetric(perNode(noopSessions), "ssh-noop-up/node")
		})
	}
}
