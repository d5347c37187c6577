package lab

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Clientset is an admin client of the lab's API server (Options.Kubernetes).
func (l *Lab) Clientset() *kubernetes.Clientset {
	l.t.Helper()
	if l.ControlPlane == nil {
		l.t.Fatal("lab: no control plane: set lab.Options.Kubernetes")
	}
	return l.ControlPlane.Clientset()
}

// dynamicClient reaches any kind the API server serves; it follows Reset's new CA.
func (l *Lab) dynamicClient() dynamic.Interface {
	l.t.Helper()
	if l.ControlPlane == nil {
		l.t.Fatal("lab: no control plane: set lab.Options.Kubernetes")
	}
	cfg, err := l.ControlPlane.RESTConfig(l.ControlPlane.URL())
	if err != nil {
		l.t.Fatalf("lab: %v", err)
	}
	c, err := dynamic.NewForConfig(cfg)
	if err != nil {
		l.t.Fatalf("lab: kubernetes client: %v", err)
	}
	return c
}

// Object returns an API object, failing the test when it does not exist
// (namespace "" for cluster-scoped kinds), e.g.
// l.Object(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "default", "x").
func (l *Lab) Object(gvr schema.GroupVersionResource, namespace, name string) *unstructured.Unstructured {
	l.t.Helper()
	o, err := l.dynamicClient().Resource(gvr).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		l.t.Fatalf("%s %s/%s on the API server: %v", gvr.Resource, namespace, name, err)
	}
	return o
}

// Objects lists the objects of a kind in namespace ("" for all or cluster-scoped).
func (l *Lab) Objects(gvr schema.GroupVersionResource, namespace string) []unstructured.Unstructured {
	l.t.Helper()
	list, err := l.dynamicClient().Resource(gvr).Namespace(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		l.t.Fatalf("listing %s in %q: %v", gvr.Resource, namespace, err)
	}
	return list.Items
}

// AssertNoObject checks that an API object does not exist.
func (l *Lab) AssertNoObject(gvr schema.GroupVersionResource, namespace, name string) {
	l.t.Helper()
	_, err := l.dynamicClient().Resource(gvr).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
	switch {
	case err == nil:
		l.t.Errorf("%s %s/%s exists, want it gone", gvr.Resource, namespace, name)
	case !apierrors.IsNotFound(err):
		l.t.Errorf("%s %s/%s: %v", gvr.Resource, namespace, name, err)
	}
}
