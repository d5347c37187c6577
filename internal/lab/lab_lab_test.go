//go:build lab

package lab_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/homeslice/homelab/internal/lab"
)

var (
	configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	nodes      = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
)

// The scenario API itself: a command per host and a ConfigMap through node1's
// :16443, a reinstall turning into an update on the new host, power and network
// loss, and the host and API assertions.
func TestLabScenarioAPI(t *testing.T) {
	var l *lab.Lab
	program := func(ctx *pulumi.Context) error {
		key := pulumi.ToSecret(pulumi.String(string(l.Network.PrivateKeyPEM()))).(pulumi.StringOutput)
		for _, n := range l.Nodes() {
			_, err := remote.NewCommand(ctx, n.Name()+"-hello", &remote.CommandArgs{
				Connection: remote.ConnectionArgs{
					Host: pulumi.String(n.IP().String()), User: pulumi.String(n.Host().User()),
					PrivateKey: key, HostKey: pulumi.String(n.HostKey()), DialErrorLimit: pulumi.Int(2),
				},
				Create: pulumi.String("echo hello from $(cat /etc/machine-id) | sudo tee /etc/lab-hello"),
			})
			if err != nil {
				return err
			}
		}
		kc, err := l.ControlPlane.Kubeconfig(fmt.Sprintf("https://%s:16443", l.Node(0).IP()))
		if err != nil {
			return err
		}
		k8s, err := kubernetes.NewProvider(ctx, "node1-api", &kubernetes.ProviderArgs{Kubeconfig: pulumi.ToSecret(pulumi.String(string(kc))).(pulumi.StringOutput)})
		if err != nil {
			return err
		}
		_, err = corev1.NewConfigMap(ctx, "settings", &corev1.ConfigMapArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String("lab-settings"), Namespace: pulumi.String("default")},
			Data:     pulumi.StringMap{"chime": pulumi.String("door.mp3")},
		}, pulumi.Provider(k8s))
		return err
	}
	l = lab.New(t, 2, lab.Options{Program: program, Kubernetes: true})
	node1, node2 := l.Node(0), l.Node(1)

	res := l.Up(nil)
	for _, name := range []string{"node1-hello", "node2-hello", "settings"} {
		if ops := res.Ops(name); !slices.Equal(ops, []apitype.OpType{apitype.OpCreate}) {
			t.Errorf("%s: ops %v, want [create]", name, ops)
		}
	}
	node1.AssertFile("/etc/lab-hello", "hello from "+node1.MachineID())
	node2.AssertFile("/etc/lab-hello", "hello from "+node2.MachineID())
	node1.AssertService("ssh.service", "active")
	node1.AssertServiceEnabled("ssh.service", "enabled")
	node1.AssertService("lab-apiserver.socket", "active")
	if got := l.Object(configMaps, "default", "lab-settings").Object["data"]; fmt.Sprint(got) != "map[chime:door.mp3]" {
		t.Errorf("ConfigMap data %v", got)
	}
	l.AssertNoObject(configMaps, "default", "no-such-map")
	if got := len(l.Objects(nodes, "")); got != 2 {
		t.Errorf("%d nodes on the API server, want one per host", got)
	}
	if n := node1.SSHLogins(); n < 1 {
		t.Errorf("node1: %d ssh logins after a command ran on it", n)
	}
	l.AssertNoChanges()

	// A reinstall changes the pinned key the program reads: a connection change is an
	// update, run on the new install.
	oldID := node2.MachineID()
	node2.Reinstall()
	if node2.MachineID() == oldID {
		t.Fatal("a reinstall keeps the machine-id")
	}
	node2.AssertNoFile("/etc/lab-hello")
	res = l.Up(nil)
	if ops := res.Ops("node2-hello"); !slices.Equal(ops, []apitype.OpType{apitype.OpUpdate}) {
		t.Errorf("node2-hello after a reinstall: ops %v, want [update]", ops)
	}
	if c := res.Changed(); !slices.Equal(c, []string{"node2-hello"}) {
		t.Errorf("a reinstall of node2 changed %v", c)
	}
	node2.AssertFile("/etc/lab-hello", "hello from "+node2.MachineID())

	// Power: the disk is readable while off, SSH answers again after Start.
	node2.Stop()
	if got := node2.ReadFile("/etc/lab-hello"); got != "hello from "+node2.MachineID()+"\n" {
		t.Errorf("node2's disk while off: %q", got)
	}
	node2.Start()
	node2.AssertSSH(node2.IP())

	// Network: a partitioned node refuses new connections but can still be inspected.
	node1.Partition()
	if c, err := node1.Host().Dial(context.Background(), 3*time.Second); err == nil {
		c.Close()
		t.Error("a partitioned node accepted an SSH connection")
	}
	if got := node1.Exec("hostname"); got != "node1" {
		t.Errorf("hostname of the partitioned node1: %q", got)
	}
	node1.Heal()
	node1.AssertSSH(node1.IP())
	l.AssertNoChanges()
}
