package microk8s

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// inv is one command invocation on a host.
type inv struct {
	ctx context.Context
	h   *Host
	io  IO
}

func (in *inv) out(s string)   { fprintf(in.io.Out, "%s", s) }
func (in *inv) outln(s string) { fprintf(in.io.Out, "%s\n", s) }
func (in *inv) errln(s string) { fprintf(in.io.Err, "%s\n", s) }

// exitIfStopped is utils.sh's exit_if_stopped.
func (in *inv) exitIfStopped() bool {
	if exists(in.h.lock("stopped.lock")) {
		in.errln("microk8s is not running, try microk8s start")
		return true
	}
	return false
}

// Microk8s runs `microk8s args...` and returns its exit code.
func (h *Host) Microk8s(ctx context.Context, io IO, args []string) int {
	code := h.microk8s(ctx, io, args)
	h.logLine("microk8s", args, code)
	return code
}

func (h *Host) microk8s(ctx context.Context, io IO, args []string) int {
	in := &inv{ctx: ctx, h: h, io: io}
	if !h.Installed() {
		in.errln("error: cannot find current revision for snap microk8s: readlink " + snapRel + ": no such file or directory")
		return 1
	}
	if len(args) == 0 {
		in.outln("Available subcommands are:\n\tadd-node\n\tconfig\n\tdisable\n\tenable\n\tjoin\n\tkubectl\n\tleave\n\tremove-node\n\tstart\n\tstatus\n\tstop\n\tversion")
		return 0
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "status":
		return in.status(rest)
	case "add-node":
		return in.addNode(rest)
	case "join":
		return in.join(rest)
	case "leave":
		return in.leave(rest)
	case "remove-node":
		return in.removeNode(rest)
	case "config":
		return in.config(rest)
	case "kubectl":
		return in.kubectl(rest)
	case "enable", "disable":
		return in.xable(cmd, rest)
	case "start":
		return in.start(rest)
	case "stop":
		return in.stop(rest)
	case "version":
		s, _ := h.loadSnap()
		in.outln(fmt.Sprintf("MicroK8s %s revision %d", s.Version, s.Revision))
		return 0
	}
	in.outln(fmt.Sprintf("'%s' is not a valid MicroK8s subcommand.", cmd))
	return 1
}

func (in *inv) start(args []string) int {
	h := in.h
	if exists(h.lock("clustered.lock")) {
		in.outln("This MicroK8s deployment is acting as a node in a cluster.\nUse 'snap start microk8s' to start services on this node.")
		return 0
	}
	if len(args) > 0 {
		in.outln("microk8s start: invalid option -- " + args[0])
		return 1
	}
	if out, err := h.runner().Run(in.ctx, "systemctl", "start", AgentUnit); err != nil {
		in.outln(`Failed to start microk8s services. Check snapd logs with "journalctl -u snapd.service"`)
		in.errln(strings.TrimSpace(out))
		return 1
	}
	_ = os.Remove(h.lock("stopped.lock"))
	return 0
}

func (in *inv) stop(args []string) int {
	h := in.h
	if exists(h.lock("clustered.lock")) {
		in.outln("This MicroK8s deployment is acting as a node in a cluster.\nUse 'snap stop microk8s' to stop services on this node.")
		return 0
	}
	if len(args) > 0 {
		in.outln("microk8s stop: invalid option -- " + args[0])
		return 1
	}
	if err := touch(h.lock("stopped.lock")); err != nil {
		in.errln(err.Error())
		return 1
	}
	// `snap stop microk8s --disable` stops every service, the agent too.
	if out, err := h.runner().Run(in.ctx, "systemctl", "stop", AgentUnit); err != nil {
		in.outln(`Failed to stop microk8s services. Check snapd logs with "journalctl -u snapd.service"`)
		in.errln(strings.TrimSpace(out))
		return 1
	}
	return 0
}

// ready says whether this node's Kubernetes would answer: installed, not
// stopped, a control-plane member of its own state at an address it still has,
// and a quorum of the voters reachable. why is the reason when not.
func (h *Host) ready(ctx context.Context) (bool, string) {
	const notRunning = "microk8s is not running. Use microk8s inspect for a deeper inspection."
	if exists(h.lock("stopped.lock")) {
		return false, notRunning
	}
	st, err := h.loadState()
	if err != nil {
		return false, notRunning
	}
	info, err := h.loadInfo()
	if err != nil {
		return false, notRunning
	}
	self, ok := st.member(info.ID)
	if !ok {
		return false, notRunning
	}
	if ip := self.IP(); ip != "127.0.0.1" && !h.hasIP(ip) {
		return false, notRunning
	}
	if !h.quorum(ctx, st, info.ID) {
		return false, notRunning
	}
	return true, ""
}

func (in *inv) status(args []string) int {
	h := in.h
	if exists(h.lock("clustered.lock")) {
		in.outln("This MicroK8s deployment is acting as a node in a cluster.\nPlease use the control plane node.")
		return 0
	}
	if exists(h.lock("stopped.lock")) {
		in.outln("microk8s is not running, try microk8s start")
		return 0
	}
	format, wait, timeout, addonName, yamlShort := "pretty", false, 0, "all", false
	for i := 0; i < len(args); i++ {
		a := args[i]
		k, v, hasV := strings.Cut(a, "=")
		needV := func() (string, bool) {
			if hasV {
				return v, true
			}
			if i+1 < len(args) {
				i++
				return args[i], true
			}
			in.errln(fmt.Sprintf("usage: microk8s status [-h] [--format {pretty,yaml,short}] [-w] [-t TIMEOUT] [-a ADDON] [--yaml]\nmicrok8s status: error: argument %s: expected one argument", k))
			return "", false
		}
		switch k {
		case "--format":
			val, ok := needV()
			if !ok {
				return 2
			}
			if val != "pretty" && val != "yaml" && val != "short" {
				in.errln(fmt.Sprintf("usage: microk8s status [-h] [--format {pretty,yaml,short}] [-w] [-t TIMEOUT] [-a ADDON] [--yaml]\nmicrok8s status: error: argument --format: invalid choice: '%s' (choose from 'pretty', 'yaml', 'short')", val))
				return 2
			}
			format = val
		case "-w", "--wait-ready":
			wait = true
		case "-t", "--timeout":
			val, ok := needV()
			if !ok {
				return 2
			}
			n, err := strconv.Atoi(val)
			if err != nil {
				in.errln(fmt.Sprintf("usage: microk8s status [-h] [--format {pretty,yaml,short}] [-w] [-t TIMEOUT] [-a ADDON] [--yaml]\nmicrok8s status: error: argument -t/--timeout: invalid int value: '%s'", val))
				return 2
			}
			timeout = n
		case "-a", "--addon":
			val, ok := needV()
			if !ok {
				return 2
			}
			addonName = val
		case "--yaml":
			yamlShort = true
		default:
			in.errln(fmt.Sprintf("usage: microk8s status [-h] [--format {pretty,yaml,short}] [-w] [-t TIMEOUT] [-a ADDON] [--yaml]\nmicrok8s status: error: unrecognized arguments: %s", a))
			return 2
		}
	}
	isReady, _ := h.ready(in.ctx)
	if wait && !isReady {
		end := time.Now().Add(time.Duration(timeout) * time.Second)
		for !isReady {
			if timeout > 0 && time.Now().After(end) {
				break
			}
			select {
			case <-in.ctx.Done():
				return 1
			case <-time.After(orDefault(h.PollInterval, 2*time.Second)):
			}
			isReady, _ = h.ready(in.ctx)
		}
	}
	st, _ := h.loadState()
	var enabled, disabled []addon
	for _, a := range h.availableAddons() {
		if addonName != "all" && a.name != addonName {
			continue
		}
		if isReady && h.addonEnabled(a, st) {
			enabled = append(enabled, a)
		} else if isReady {
			disabled = append(disabled, a)
		}
	}
	switch {
	case addonName != "all":
		if len(enabled) > 0 {
			in.outln("enabled")
		} else {
			in.outln("disabled")
		}
	case format == "yaml":
		in.statusYAML(isReady, st, enabled, disabled)
	case format == "short":
		in.statusShort(isReady, enabled, disabled)
	case yamlShort:
		in.statusShortYAML(isReady, enabled, disabled)
	default:
		in.statusPretty(isReady, st, enabled, disabled)
	}
	if !isReady {
		return 1
	}
	return 0
}

const notRunningMsg = "microk8s is not running. Use microk8s inspect for a deeper inspection."

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func roleName(r int) string {
	switch r {
	case RoleVoter:
		return "voter"
	case RoleStandby:
		return "standby"
	}
	return "spare"
}

func (in *inv) haNodes(st *State) [][2]string {
	if st == nil || !exists(in.h.lock("ha-cluster")) {
		return nil
	}
	var out [][2]string
	for _, m := range st.Members {
		out = append(out, [2]string{m.Address, roleName(m.Role)})
	}
	return out
}

func (in *inv) statusYAML(ready bool, st *State, enabled, disabled []addon) {
	in.outln("microk8s:")
	in.outln("  running: " + pyBool(ready))
	in.outln("high-availability:")
	ha := exists(in.h.lock("ha-cluster"))
	in.outln("  enabled: " + pyBool(ha))
	if ha {
		in.outln("  nodes:")
		for _, n := range in.haNodes(st) {
			in.outln("    - address: " + n[0])
			in.outln("      role: " + n[1])
		}
	}
	if !ready {
		in.outln("   message: " + notRunningMsg) // "{:>2} {} {}": three spaces, as status.py prints it
		return
	}
	in.outln("addons:")
	for _, list := range []struct {
		as     []addon
		status string
	}{{enabled, "enabled"}, {disabled, "disabled"}} {
		for _, a := range list.as {
			in.outln("  - name: " + a.name)
			in.outln("    repository: " + a.repo)
			in.outln("    description: " + a.description)
			in.outln("    version: " + a.version)
			in.outln("    status: " + list.status)
		}
	}
}

func (in *inv) statusShort(ready bool, enabled, disabled []addon) {
	if !ready {
		in.outln(notRunningMsg)
		return
	}
	in.outln("microk8s is running")
	in.outln("addons:")
	for _, a := range enabled {
		in.outln(fmt.Sprintf("%s/%s: enabled", a.repo, a.name))
	}
	for _, a := range disabled {
		in.outln(fmt.Sprintf("%s/%s: disabled", a.repo, a.name))
	}
}

func (in *inv) statusShortYAML(ready bool, enabled, disabled []addon) {
	in.outln("microk8s:")
	in.outln("  running: " + pyBool(ready))
	if !ready {
		in.outln("   message: " + notRunningMsg) // "{:>2} {} {}": three spaces, as status.py prints it
		return
	}
	in.outln("addons:")
	for _, a := range enabled {
		in.outln(fmt.Sprintf("  %s/%s: enabled", a.repo, a.name))
	}
	for _, a := range disabled {
		in.outln(fmt.Sprintf("  %s/%s: disabled", a.repo, a.name))
	}
}

func (in *inv) statusPretty(ready bool, st *State, enabled, disabled []addon) {
	if !ready {
		in.outln(notRunningMsg)
		return
	}
	in.outln("microk8s is running")
	if !exists(in.h.lock("ha-cluster")) {
		in.outln("high-availability: no")
	} else {
		nodes := in.haNodes(st)
		var masters, standby []string
		for _, n := range nodes {
			switch n[1] {
			case "voter":
				masters = append(masters, n[0])
			case "standby":
				standby = append(standby, n[0])
			}
		}
		if len(masters) > 2 {
			in.outln("high-availability: yes")
		} else {
			in.outln("high-availability: no")
		}
		none := func(s []string) string {
			if len(s) == 0 {
				return "none"
			}
			return strings.Join(s, " ")
		}
		in.outln("  datastore master nodes: " + none(masters))
		in.outln("  datastore standby nodes: " + none(standby))
	}
	in.outln("addons:")
	if len(enabled) > 0 {
		in.outln("  enabled:")
		for _, a := range enabled {
			in.outln(fmt.Sprintf("    %-20s # (%s) %s", a.name, a.repo, a.description))
		}
	}
	if len(disabled) > 0 {
		in.outln("  disabled:")
		for _, a := range disabled {
			in.outln(fmt.Sprintf("    %-20s # (%s) %s", a.name, a.repo, a.description))
		}
	}
}
