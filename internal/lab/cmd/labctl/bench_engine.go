package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/homeslice/homelab/internal/lab"
	"github.com/homeslice/homelab/internal/lab/engine"
	"github.com/homeslice/homelab/internal/lab/hosts"
	"github.com/homeslice/homelab/stacks"
)

// benchEngine times the real engine per lab size: a first `up`, a no-op `preview`
// and a no-op `up`, and counts the SSH logins each opened per host (sshd's
// "Accepted publickey" lines in the host's journal). The program is K chained
// remote.Commands per host and, with -home, also stacks.Home.
func benchEngine(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench-engine", flag.ExitOnError)
	sizes := fs.String("sizes", "1,3,6", "lab sizes (hosts), comma-separated")
	k := fs.Int("commands", 4, "chained commands per host")
	home := fs.Bool("home", false, "also bench stacks.Home (facts on every run, three steps per node)")
	_ = fs.Parse(args)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PROGRAM\tHOSTS\tUP\tNO-OP PREVIEW\tNO-OP UP\tSSH LOGINS/HOST: UP\tPREVIEW\tNO-OP UP\t")
	programs := []string{fmt.Sprintf("%d commands/host", *k)}
	if *home {
		programs = append(programs, "stacks.Home")
	}
	for _, f := range strings.Split(*sizes, ",") {
		count, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || count < 1 {
			return fmt.Errorf("bad size %q", f)
		}
		for _, prog := range programs {
			row, err := benchOne(ctx, count, *k, prog == "stacks.Home")
			if err != nil {
				return fmt.Errorf("%s, %d hosts: %w", prog, count, err)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", prog, count,
				round(row.up), round(row.preview), round(row.noop), row.logins[0], row.logins[1], row.logins[2])
			fmt.Fprintf(os.Stderr, "bench-engine: %s on %d hosts done\n", prog, count)
		}
	}
	return tw.Flush()
}

type benchRow struct {
	up, preview, noop time.Duration
	logins            [3]string // per phase, per host: "4" or "4-5" when hosts differ
}

func round(d time.Duration) string { return d.Round(100 * time.Millisecond).String() }

func benchOne(ctx context.Context, count, k int, home bool) (row benchRow, err error) {
	n, err := hosts.NewNetwork(ctx, hosts.Options{})
	if err != nil {
		return row, err
	}
	defer func() { err = errors.Join(err, n.Close(context.Background())) }()
	hs, err := n.NewHosts(ctx, count, hosts.Netplan)
	if err != nil {
		return row, err
	}
	program := chainProgram(n, hs, k)
	project := "bench"
	if home {
		program, project = stacks.Home, stacks.Namespace
	}
	st, err := engine.NewStack("", program, engine.Options{Project: project, Stack: "bench"})
	if err != nil {
		return row, err
	}
	defer func() { err = errors.Join(err, st.Close()) }()
	if home {
		nodes := lab.NodesConfig(n, hs)
		for i, h := range hs {
			nodes[i]["hostKey"] = h.HostKey() // pinned: the bench is not about first contact
		}
		if err := st.WriteConfig(ctx, map[string]any{stacks.Namespace + ":nodes": nodes}); err != nil {
			return row, err
		}
		if err := st.SetConfig(ctx, stacks.Namespace+":sshPrivateKey", string(n.PrivateKeyPEM()), true); err != nil {
			return row, err
		}
	}
	logins := func() ([]int, error) {
		var out []int
		for _, h := range hs {
			c, err := lab.SSHLogins(ctx, h)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	}
	before, err := logins()
	if err != nil {
		return row, err
	}
	phases := []struct {
		took *time.Duration
		run  func() engine.Result
		noop bool
	}{
		{&row.up, func() engine.Result { return st.Up(ctx) }, false},
		{&row.preview, func() engine.Result { return st.PreviewExpectNoChanges(ctx) }, true},
		{&row.noop, func() engine.Result { return st.Up(ctx) }, true},
	}
	for i, p := range phases {
		start := time.Now()
		res := p.run()
		*p.took = time.Since(start)
		if res.Err != nil {
			return row, fmt.Errorf("%s\n%s", engine.ErrText(res.Err), tail(res.Output, 3000))
		}
		if p.noop && len(res.Changed()) > 0 {
			return row, fmt.Errorf("a no-op run changed %v", res.Changed())
		}
		after, err := logins()
		if err != nil {
			return row, err
		}
		lo, hi := -1, -1
		for j := range after {
			d := after[j] - before[j]
			if lo < 0 || d < lo {
				lo = d
			}
			hi = max(hi, d)
		}
		row.logins[i] = strconv.Itoa(lo)
		if hi != lo {
			row.logins[i] += "-" + strconv.Itoa(hi)
		}
		before = after
	}
	return row, nil
}

// chainProgram is k remote.Commands per host, each depending on the one before,
// dialling the host with its pinned key.
func chainProgram(n *hosts.Network, hs []*hosts.Host, k int) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		key := pulumi.ToSecret(pulumi.String(string(n.PrivateKeyPEM()))).(pulumi.StringOutput)
		for _, h := range hs {
			conn := remote.ConnectionArgs{
				Host:       pulumi.String(h.IP().String()),
				User:       pulumi.String(h.User()),
				PrivateKey: key,
				HostKey:    pulumi.String(h.HostKey()),
			}
			var prev []pulumi.Resource
			for i := range k {
				c, err := remote.NewCommand(ctx, fmt.Sprintf("%s-step%d", h.Name(), i+1), &remote.CommandArgs{
					Connection: conn,
					Create:     pulumi.String(fmt.Sprintf("echo step %d on $(hostname)", i+1)),
				}, pulumi.DependsOn(prev))
				if err != nil {
					return err
				}
				prev = []pulumi.Resource{c}
			}
		}
		return nil
	}
}
