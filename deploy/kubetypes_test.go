package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubeTypes are the Go types of the objects deploy/ ships, by kind, with
// the apiVersion each must carry: what the API server (and the Prometheus
// Operator's CRDs) would decode them into.
var kubeTypes = map[string]struct {
	apiVersion string
	new        func() any
}{
	"ConfigMap":      {"v1", func() any { return &corev1.ConfigMap{} }},
	"Secret":         {"v1", func() any { return &corev1.Secret{} }},
	"Service":        {"v1", func() any { return &corev1.Service{} }},
	"ServiceAccount": {"v1", func() any { return &corev1.ServiceAccount{} }},
	"Deployment":     {"apps/v1", func() any { return &appsv1.Deployment{} }},
	"StatefulSet":    {"apps/v1", func() any { return &appsv1.StatefulSet{} }},
	"Job":            {"batch/v1", func() any { return &batchv1.Job{} }},
	"ServiceMonitor": {"monitoring.coreos.com/v1", func() any { return &monitoringv1.ServiceMonitor{} }},
	"Probe":          {"monitoring.coreos.com/v1", func() any { return &monitoringv1.Probe{} }},
	"PrometheusRule": {"monitoring.coreos.com/v1", func() any { return &monitoringv1.PrometheusRule{} }},
}

// decodeStrict decodes a YAML-decoded object into its kind's Go type,
// refusing unknown fields and wrong types, as `kubectl apply
// --validate=strict` would. It returns the typed object.
func decodeStrict(doc map[string]any) (any, error) {
	kind, _ := doc["kind"].(string)
	kt, ok := kubeTypes[kind]
	if !ok {
		return nil, fmt.Errorf("kind %q has no Go type here: add it to kubeTypes", kind)
	}
	if v, _ := doc["apiVersion"].(string); v != kt.apiVersion {
		return nil, fmt.Errorf("%s has apiVersion %q, want %q", kind, v, kt.apiVersion)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: not JSON-encodable (a non-string key?): %w", kind, err)
	}
	obj := kt.new()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, fmt.Errorf("%s %v: %w", kind, get(doc, "metadata", "name"), err)
	}
	return obj, nil
}

// objectMeta is the metadata of a typed object.
func objectMeta(obj any) metav1.Object {
	m, _ := obj.(metav1.Object)
	return m
}

// TestKubernetesStrict decodes every object under deploy/kubernetes into
// the Kubernetes and Prometheus Operator Go types.
func TestKubernetesStrict(t *testing.T) {
	for _, o := range kubeObjects(t) {
		if o.kind() == "Kustomization" {
			continue
		}
		t.Run(o.file+"/"+o.name(), func(t *testing.T) {
			obj, err := decodeStrict(o.doc)
			if err != nil {
				t.Fatal(err)
			}
			if m := objectMeta(obj); m == nil || m.GetName() == "" || m.GetNamespace() != "monitoring" {
				t.Errorf("%s: want a name and namespace monitoring, got %v", o.kind(), m)
			}
		})
	}
}

// TestDecodeStrictRefuses: the strict decoding catches what a loose
// reading would let through.
func TestDecodeStrictRefuses(t *testing.T) {
	for _, tc := range []struct {
		doc  map[string]any
		want string
	}{
		{map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "spec": map[string]any{"replicass": 1}}, `unknown field "replicass"`},
		{map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "spec": map[string]any{"replicas": "one"}}, "cannot unmarshal string"},
		{map[string]any{"apiVersion": "v1", "kind": "Deployment"}, `apiVersion "v1"`},
		{map[string]any{"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "spec": map[string]any{"endpoints": []any{map[string]any{"honorLabel": true}}}}, `unknown field "honorLabel"`},
		{map[string]any{"apiVersion": "v1", "kind": "Widget"}, "no Go type"},
	} {
		if _, err := decodeStrict(tc.doc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decodeStrict(%v) = %v, want an error containing %q", tc.doc, err, tc.want)
		}
	}
}
