package controlplane

import (
	"context"
	"fmt"
	"io"
	"path"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// What microk8s' hostpath-storage addon names and does.
const (
	StorageClass = "microk8s-hostpath"
	Provisioner  = "microk8s.io/hostpath"
	StorageDir   = "/var/snap/microk8s/common/default-storage"

	annSelectedNode  = "volume.kubernetes.io/selected-node"
	annProvisionedBy = "pv.kubernetes.io/provisioned-by"
	annNode          = "hostPathProvisionerIdentity"
)

func ensureStorageClass(ctx context.Context, client kubernetes.Interface) error {
	reclaim := corev1.PersistentVolumeReclaimDelete
	mode := storagev1.VolumeBindingWaitForFirstConsumer
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClass,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       Provisioner,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &mode,
	}
	_, err := client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating storage class %s: %w", StorageClass, err)
	}
	return nil
}

// RunProvisioner behaves like microk8s' hostpath provisioner until ctx ends: a claim
// of class microk8s-hostpath, once the scheduler picked a node for its first consumer
// (WaitForFirstConsumer), gets a PV pre-bound to it, pinned to that node by
// kubernetes.io/hostname, backed by a new directory on that host; a released PV with
// reclaim policy Delete is deleted with its directory. It polls: simple, and a second
// is fast enough for tests.
func RunProvisioner(ctx context.Context, client kubernetes.Interface, dirs HostDirs, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		provisionOnce(ctx, client, dirs, log)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func provisionOnce(ctx context.Context, client kubernetes.Interface, dirs HostDirs, log io.Writer) {
	pvcs, err := client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return // the API server restarts during Reset; try again
	}
	for i := range pvcs.Items {
		pvc := &pvcs.Items[i]
		node := pvc.Annotations[annSelectedNode]
		if pvc.Status.Phase != corev1.ClaimPending || pvc.Spec.VolumeName != "" || node == "" ||
			pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != StorageClass {
			continue
		}
		if err := provision(ctx, client, dirs, pvc, node); err != nil {
			fmt.Fprintf(log, "provisioner: %s/%s: %v\n", pvc.Namespace, pvc.Name, err)
		}
	}
	pvs, err := client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range pvs.Items {
		pv := &pvs.Items[i]
		if pv.Annotations[annProvisionedBy] != Provisioner || pv.Status.Phase != corev1.VolumeReleased ||
			pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Spec.HostPath == nil {
			continue
		}
		if dirs != nil {
			if err := dirs.RemoveDir(ctx, pv.Annotations[annNode], pv.Spec.HostPath.Path); err != nil {
				fmt.Fprintf(log, "provisioner: deleting %s: %v\n", pv.Name, err)
				continue
			}
		}
		if err := client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			fmt.Fprintf(log, "provisioner: deleting %s: %v\n", pv.Name, err)
		}
	}
}

func provision(ctx context.Context, client kubernetes.Interface, dirs HostDirs, pvc *corev1.PersistentVolumeClaim, node string) error {
	name := "pvc-" + string(pvc.UID)
	dir := path.Join(StorageDir, pvc.Namespace+"-"+pvc.Name+"-"+name)
	if dirs != nil {
		if err := dirs.MakeDir(ctx, node, dir); err != nil {
			return fmt.Errorf("making %s on %s: %w", dir, node, err)
		}
	}
	dirType := corev1.HostPathDirectoryOrCreate
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{annProvisionedBy: Provisioner, annNode: node},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              StorageClass,
			VolumeMode:                    pvc.Spec.VolumeMode,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &dirType},
			},
			ClaimRef: &corev1.ObjectReference{
				APIVersion: "v1", Kind: "PersistentVolumeClaim",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node},
				}}}},
			}},
		},
	}
	if sc, err := client.StorageV1().StorageClasses().Get(ctx, StorageClass, metav1.GetOptions{}); err == nil && sc.ReclaimPolicy != nil {
		pv.Spec.PersistentVolumeReclaimPolicy = *sc.ReclaimPolicy
	}
	_, err := client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	return nil
}
