//go:build lab

package controlplane_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/homeslice/homelab/internal/lab/controlplane"
	"github.com/homeslice/homelab/internal/lab/hosts"
)

// lab is three hosts and a control plane they forward :16443 to, as lab.New wires them.
type lab struct {
	net   *hosts.Network
	hosts []*hosts.Host
	cp    *controlplane.ControlPlane
}

func newLab(t *testing.T) *lab {
	t.Helper()
	ctx := context.Background()
	n, err := hosts.NewNetwork(ctx, hosts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	hs, err := n.NewHosts(ctx, 3, hosts.Netplan)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []controlplane.Node
	for _, h := range hs {
		nodes = append(nodes, controlplane.Node{Name: h.Name(), IP: h.IP()})
	}
	start := time.Now()
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Dir:         t.TempDir(),
		BindAddress: n.Gateway(),
		SANPrefixes: []netip.Prefix{n.Subnet()},
		Nodes:       nodes,
		HostDirs:    n,
		Log:         logWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Stop)
	t.Logf("control plane ready in %v at %s", time.Since(start).Round(time.Millisecond), cp.URL())
	if err := n.ForwardAPIServer(ctx, cp.APIAddress()); err != nil {
		t.Fatal(err)
	}
	return &lab{net: n, hosts: hs, cp: cp}
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// eventually polls check every 300ms until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, check func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		if last = check(ctx); last == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v: %v", what, timeout, last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func nodeClient(t *testing.T, cp *controlplane.ControlPlane, server string) *kubernetes.Clientset {
	t.Helper()
	kc, err := cp.Kubeconfig(server)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 10 * time.Second
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func labels(app string) map[string]string { return map[string]string{"app": app} }

func podSpec(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels("x")},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers:    []corev1.Container{{Name: "main", Image: image}},
		},
	}
}

func TestControlPlane(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	c := l.cp.Clientset()

	t.Run("nodes are ready", func(t *testing.T) {
		eventually(t, 30*time.Second, "3 Ready nodes", func(ctx context.Context) error {
			nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			ready := 0
			for _, n := range nodes.Items {
				for _, cond := range n.Status.Conditions {
					if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
			if ready != 3 {
				return fmt.Errorf("%d of %d nodes ready", ready, len(nodes.Items))
			}
			return nil
		})
	})

	t.Run("kubeconfig for a node's :16443 verifies against the lab CA", func(t *testing.T) {
		for _, h := range l.hosts {
			server := "https://" + netip.AddrPortFrom(h.IP(), 16443).String()
			nc := nodeClient(t, l.cp, server)
			eventually(t, 20*time.Second, "listing nodes via "+server, func(ctx context.Context) error {
				_, err := nc.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
				return err
			})
		}
		// The same kubeconfig with another cluster's CA is refused: the CA is really checked.
		kc, err := l.cp.Kubeconfig("https://" + netip.AddrPortFrom(l.hosts[0].IP(), 16443).String())
		if err != nil {
			t.Fatal(err)
		}
		other, err := controlplane.NewCA()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := clientcmd.Load(kc)
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range cfg.Clusters {
			cl.CertificateAuthorityData = other
		}
		bad, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		bad.Timeout = 10 * time.Second
		if _, err := kubernetes.NewForConfigOrDie(bad).CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil ||
			!strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("a foreign CA: %v, want an unknown-authority error", err)
		}
	})

	t.Run("a Deployment becomes Available", func(t *testing.T) {
		one := int32(2)
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{
				Replicas: &one,
				Selector: &metav1.LabelSelector{MatchLabels: labels("x")},
				Template: podSpec("registry.localdomain:32000/web:1"),
			},
		}
		if _, err := c.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "deployment web Available", func(ctx context.Context) error {
			d, err := c.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, cond := range d.Status.Conditions {
				if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue && d.Status.AvailableReplicas == 2 {
					return nil
				}
			}
			return fmt.Errorf("status %+v", d.Status)
		})
	})

	t.Run("a Job completes", func(t *testing.T) {
		tmpl := podSpec("restic/restic:0.18.1")
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "backup"}, Spec: batchv1.JobSpec{Template: tmpl}}
		if _, err := c.BatchV1().Jobs("default").Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "job backup Complete", func(ctx context.Context) error {
			j, err := c.BatchV1().Jobs("default").Get(ctx, "backup", metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, cond := range j.Status.Conditions {
				if cond.Type == batchv1.JobComplete && cond.Status == corev1.ConditionTrue {
					return nil
				}
			}
			return fmt.Errorf("status %+v", j.Status)
		})
	})

	t.Run("a PVC binds on its consumer's node", func(t *testing.T) {
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "chime-data"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		if _, err := c.CoreV1().PersistentVolumeClaims("default").Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// WaitForFirstConsumer: nothing binds before a pod uses the claim.
		time.Sleep(2 * time.Second)
		if got, err := c.CoreV1().PersistentVolumeClaims("default").Get(ctx, "chime-data", metav1.GetOptions{}); err != nil || got.Status.Phase != corev1.ClaimPending {
			t.Fatalf("claim without a consumer: %v %v", got.Status.Phase, err)
		}
		pod := podSpec("registry.localdomain:32000/chime:1")
		pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "chime-data"},
		}}}
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "chime"}, Spec: pod.Spec}
		if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var pvName string
		eventually(t, 60*time.Second, "claim chime-data Bound", func(ctx context.Context) error {
			got, err := c.CoreV1().PersistentVolumeClaims("default").Get(ctx, "chime-data", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if got.Status.Phase != corev1.ClaimBound {
				return fmt.Errorf("phase %s", got.Status.Phase)
			}
			pvName = got.Spec.VolumeName
			return nil
		})
		var node string
		eventually(t, 60*time.Second, "pod chime Running", func(ctx context.Context) error {
			got, err := c.CoreV1().Pods("default").Get(ctx, "chime", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if got.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("phase %s", got.Status.Phase)
			}
			node = got.Spec.NodeName
			return nil
		})
		pv, err := c.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
		if len(terms) != 1 || terms[0].MatchExpressions[0].Key != "kubernetes.io/hostname" || terms[0].MatchExpressions[0].Values[0] != node {
			t.Errorf("PV node affinity %+v, want kubernetes.io/hostname=%s", terms, node)
		}
		if pv.Spec.StorageClassName != controlplane.StorageClass || pv.Spec.HostPath == nil ||
			!strings.HasPrefix(pv.Spec.HostPath.Path, controlplane.StorageDir+"/default-chime-data-pvc-") {
			t.Errorf("PV %+v", pv.Spec)
		}
		if _, err := l.net.Host(node).Exec(ctx, "test -d "+pv.Spec.HostPath.Path); err != nil {
			t.Errorf("the volume's directory is not on %s: %v", node, err)
		}
	})

	t.Run("an unpullable image reports ErrImagePull", func(t *testing.T) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unpullable"}, Spec: podSpec("registry.invalid/app:1").Spec}
		if _, err := c.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "pod unpullable ErrImagePull", func(ctx context.Context) error {
			got, err := c.CoreV1().Pods("default").Get(ctx, "unpullable", metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, s := range got.Status.ContainerStatuses {
				if s.State.Waiting != nil && s.State.Waiting.Reason == "ErrImagePull" && got.Status.Phase == corev1.PodPending {
					return nil
				}
			}
			return fmt.Errorf("status %+v", got.Status)
		})
	})

	t.Run("reset gives a new CA and an empty cluster", func(t *testing.T) {
		oldCA := l.cp.CAPEM()
		server := "https://" + netip.AddrPortFrom(l.hosts[0].IP(), 16443).String()
		oldClient := nodeClient(t, l.cp, server)
		if err := l.cp.Reset(ctx); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(oldCA, l.cp.CAPEM()) {
			t.Fatal("the CA survived a reset")
		}
		if _, err := oldClient.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
			t.Error("a client trusting the old CA still connects")
		}
		nc := nodeClient(t, l.cp, server)
		eventually(t, 20*time.Second, "the rebuilt cluster via "+server, func(ctx context.Context) error {
			_, err := nc.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
			return err
		})
		for what, list := range map[string]func() (int, error){
			"deployments": func() (int, error) {
				l, err := nc.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
			"jobs": func() (int, error) {
				l, err := nc.BatchV1().Jobs("").List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
			"persistent volumes": func() (int, error) {
				l, err := nc.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
				return len(l.Items), err
			},
		} {
			if n, err := list(); err != nil || n != 0 {
				t.Errorf("%s after reset: %d, %v", what, n, err)
			}
		}
	})
}

func TestCronJobCreatesCompletingJobs(t *testing.T) {
	cp, err := controlplane.Start(context.Background(), controlplane.Options{
		Dir:   t.TempDir(),
		Nodes: []controlplane.Node{{Name: "node1", IP: netip.MustParseAddr("10.213.0.101")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Stop)
	c := cp.Clientset()
	tmpl := podSpec("restic/restic:0.18.1")
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly"},
		Spec: batchv1.CronJobSpec{
			Schedule:    "* * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}},
		},
	}
	if _, err := c.BatchV1().CronJobs("default").Create(context.Background(), cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The schedule fires at the next minute boundary.
	eventually(t, 100*time.Second, "a completed job from cronjob nightly", func(ctx context.Context) error {
		jobs, err := c.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, j := range jobs.Items {
			if j.Status.Succeeded > 0 && len(j.OwnerReferences) > 0 && j.OwnerReferences[0].Name == "nightly" {
				return nil
			}
		}
		return fmt.Errorf("%d jobs, none completed", len(jobs.Items))
	})
}
