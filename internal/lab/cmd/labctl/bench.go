package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/homeslice/homelab/internal/lab/controlplane"
	"github.com/homeslice/homelab/internal/lab/hosts"
)

// bench times a lab start (network, hosts booted to SSH, control plane ready with a
// node per host, :16443 forwarded) per lab size, from a cold image cache and a warm
// one, and the hosts' memory once they settled.
func bench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	sizes := fs.String("sizes", "1,3,6", "lab sizes (hosts), comma-separated")
	cold := fs.Bool("cold", false, "also time starts from an empty image cache (deletes the lab images and their archive; minutes each)")
	settle := fs.Duration("settle", 10*time.Second, "wait before reading host memory")
	_ = fs.Parse(args)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "HOSTS\tCOLD START\tWARM START\tMEMORY/HOST (avg)\tMEMORY/HOST (max)\t")
	for _, f := range strings.Split(*sizes, ",") {
		count, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || count < 1 {
			return fmt.Errorf("bad size %q", f)
		}
		coldTime := "-"
		if *cold {
			if err := hosts.RemoveImages(ctx); err != nil {
				return err
			}
			d, _, err := startLab(ctx, count, 0)
			if err != nil {
				return err
			}
			coldTime = d.Round(100 * time.Millisecond).String()
		}
		d, mem, err := startLab(ctx, count, *settle)
		if err != nil {
			return err
		}
		var sum, max uint64
		for _, m := range mem {
			sum += m
			if m > max {
				max = m
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d MiB\t%d MiB\t\n", count, coldTime, d.Round(100*time.Millisecond), sum/uint64(len(mem))>>20, max>>20)
		fmt.Fprintf(os.Stderr, "bench: %d hosts done\n", count)
	}
	return tw.Flush()
}

// startLab starts a lab of count hosts, times it, reads memory after settle (when
// non-zero) and removes it again.
func startLab(ctx context.Context, count int, settle time.Duration) (time.Duration, []uint64, error) {
	start := time.Now()
	n, err := hosts.NewNetwork(ctx, hosts.Options{})
	if err != nil {
		return 0, nil, err
	}
	defer n.Close(context.Background()) //nolint:errcheck // best effort
	hs, err := n.NewHosts(ctx, count, hosts.Netplan)
	if err != nil {
		return 0, nil, err
	}
	var nodes []controlplane.Node
	for _, h := range hs {
		nodes = append(nodes, controlplane.Node{Name: h.Name(), IP: h.IP()})
	}
	cp, err := controlplane.Start(ctx, controlplane.Options{
		BindAddress: n.Gateway(), SANPrefixes: []netip.Prefix{n.Subnet()}, Nodes: nodes,
	})
	if err != nil {
		return 0, nil, err
	}
	defer cp.Close() //nolint:errcheck // best effort
	if err := n.ForwardAPIServer(ctx, cp.APIAddress()); err != nil {
		return 0, nil, err
	}
	took := time.Since(start)
	if settle == 0 {
		return took, nil, nil
	}
	time.Sleep(settle)
	var mem []uint64
	for _, h := range hs {
		m, err := h.MemoryBytes(ctx)
		if err != nil {
			return 0, nil, err
		}
		mem = append(mem, m)
	}
	return took, mem, nil
}
