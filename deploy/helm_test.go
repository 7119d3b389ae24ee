package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/metricwrap/metricwrap/internal/testenv"
)

const chartDir = "helm/metricwrap"

// allValues turns on everything the chart can render.
const allValues = `
image: {tag: "1.2.3"}
config:
  exporters:
    dummy: {builtin: dummy}
    health:
      builtin: http
      params:
        target: {pattern: 'https?://[A-Za-z0-9.-]+(/[^ ]*)?', required: true}
  sinks:
    dt: {type: dynatrace, prefix: metricwrap}
    archive: {type: s3, endpoint: 'https://s3.eu-central-1.amazonaws.com', bucket: metrics, region: eu-central-1}
  spool: {dir: /var/lib/metricwrap/spool}
dynatrace: {existingSecret: dt-details}
s3: {existingSecret: s3-credentials}
spool: {existingClaim: metricwrap-spool}
extraArgs: [--log.level=debug]
serviceMonitor:
  endpoints:
    - path: /metrics/dummy
      interval: 1m
    - path: /metrics/health
      params: {target: [https://prometheus.io]}
      scrapeTimeout: 10s
pushgatewayServiceMonitor: {enabled: true, namespace: pushgateway}
`

// helmTemplate renders the chart with the values (YAML, may be empty) as
// release "metricwrap" in namespace monitoring, and decodes each object
// strictly into its Go type.
func helmTemplate(t *testing.T, helm, values string, extra ...string) (map[string][]any, error) {
	t.Helper()
	args := []string{"template", "metricwrap", chartDir, "--namespace", "monitoring"}
	if values != "" {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte(values), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", f)
	}
	cmd := exec.Command(helm, append(args, extra...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, errors.New(strings.TrimSpace(stderr.String()))
	}
	objs := map[string][]any{}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("helm template output: %v\n%s", err, out)
		}
		if doc == nil {
			continue
		}
		obj, err := decodeStrict(doc)
		if err != nil {
			t.Errorf("rendered object does not decode strictly: %v", err)
			continue
		}
		objs[doc["kind"].(string)] = append(objs[doc["kind"].(string)], obj)
	}
	return objs, nil
}

// TestHelmChart lints the chart, renders it with its defaults and with
// everything on, decodes every object strictly into the Kubernetes and
// Prometheus Operator types, checks what the objects must say to each
// other, and runs check-config on the rendered config.
func TestHelmChart(t *testing.T) {
	helm := testenv.Helm(t)
	for _, values := range []string{"", allValues} {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte(values), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(helm, "lint", "--strict", chartDir, "--values", f).CombinedOutput(); err != nil {
			t.Errorf("helm lint --strict: %v\n%s", err, out)
		}
	}

	t.Run("defaults", func(t *testing.T) {
		objs, err := helmTemplate(t, helm, "")
		if err != nil {
			t.Fatal(err)
		}
		for kind, n := range map[string]int{"ConfigMap": 1, "Deployment": 1, "Service": 1, "ServiceMonitor": 1, "PrometheusRule": 1} {
			if len(objs[kind]) != n {
				t.Errorf("%d %s, want %d", len(objs[kind]), kind, n)
			}
		}
		if len(objs["Secret"]) != 0 {
			t.Error("the chart renders a Secret: an upgrade would replace the user's credentials")
		}
		dep := objs["Deployment"][0].(*appsv1.Deployment)
		if refs := dep.Spec.Template.Spec.Containers[0].EnvFrom; len(refs) != 0 {
			t.Errorf("envFrom %v without any existingSecret set", refs)
		}
		if dep.Spec.Template.Spec.Volumes[1].EmptyDir == nil {
			t.Error("without spool.existingClaim the spool is not an emptyDir")
		}
		checkRendered(t, objs)
	})

	t.Run("everything on", func(t *testing.T) {
		objs, err := helmTemplate(t, helm, allValues)
		if err != nil {
			t.Fatal(err)
		}
		checkRendered(t, objs)
		dep := objs["Deployment"][0].(*appsv1.Deployment)
		c := dep.Spec.Template.Spec.Containers[0]
		if c.Image != "registry.example.com/metricwrap:1.2.3" {
			t.Errorf("image %s", c.Image)
		}
		var secrets []string
		for _, ef := range c.EnvFrom {
			if ef.SecretRef == nil || (ef.SecretRef.Optional != nil && *ef.SecretRef.Optional) {
				t.Errorf("envFrom %+v: want a required secretRef", ef)
				continue
			}
			secrets = append(secrets, ef.SecretRef.Name)
		}
		if !reflect.DeepEqual(secrets, []string{"dt-details", "s3-credentials"}) {
			t.Errorf("envFrom secrets %v, want dt-details and s3-credentials", secrets)
		}
		if pvc := dep.Spec.Template.Spec.Volumes[1].PersistentVolumeClaim; pvc == nil || pvc.ClaimName != "metricwrap-spool" {
			t.Errorf("spool volume %+v, want the claim metricwrap-spool", dep.Spec.Template.Spec.Volumes[1])
		}
		if c.Args[len(c.Args)-1] != "--log.level=debug" {
			t.Errorf("extraArgs not passed: %v", c.Args)
		}
		var pgw *monitoringv1.ServiceMonitor
		for _, o := range objs["ServiceMonitor"] {
			sm := o.(*monitoringv1.ServiceMonitor)
			if strings.HasSuffix(sm.Name, "-pushgateway") {
				pgw = sm
				continue
			}
			if len(sm.Spec.Endpoints) != 3 {
				t.Errorf("ServiceMonitor %s: %d endpoints, want /metrics and the two exporters", sm.Name, len(sm.Spec.Endpoints))
				continue
			}
			health := sm.Spec.Endpoints[2]
			if health.Path != "/metrics/health" || len(health.RelabelConfigs) != 2 || health.RelabelConfigs[0].TargetLabel != "instance" {
				t.Errorf("the multi-target endpoint does not make the target the instance: %+v", health)
			}
		}
		if pgw == nil {
			t.Fatal("no Pushgateway ServiceMonitor")
		}
		if len(pgw.Spec.Endpoints) != 1 || !pgw.Spec.Endpoints[0].HonorLabels {
			t.Errorf("Pushgateway ServiceMonitor endpoints %+v: want honorLabels", pgw.Spec.Endpoints)
		}
		if !reflect.DeepEqual(pgw.Spec.NamespaceSelector.MatchNames, []string{"pushgateway"}) {
			t.Errorf("Pushgateway ServiceMonitor looks in %v", pgw.Spec.NamespaceSelector.MatchNames)
		}
	})

	t.Run("StatefulSet shards the schedules", func(t *testing.T) {
		objs, err := helmTemplate(t, helm, "workload: StatefulSet\nreplicaCount: 3\nspool: {storage: 2Gi, storageClassName: fast}\n")
		if err != nil {
			t.Fatal(err)
		}
		checkRendered(t, objs)
		if len(objs["Deployment"]) != 0 || len(objs["StatefulSet"]) != 1 {
			t.Fatalf("%d Deployments and %d StatefulSets, want only the StatefulSet", len(objs["Deployment"]), len(objs["StatefulSet"]))
		}
		sts := objs["StatefulSet"][0].(*appsv1.StatefulSet)
		args := sts.Spec.Template.Spec.Containers[0].Args
		for _, want := range []string{"--cluster.shards=3", "--cluster.shard=auto"} {
			if !slices.Contains(args, want) {
				t.Errorf("args %v lack %s", args, want)
			}
		}
		for _, v := range sts.Spec.Template.Spec.Volumes {
			if v.Name == "state" {
				t.Error("the state volume is a pod volume: the shards would share or lose their spools")
			}
		}
		vct := sts.Spec.VolumeClaimTemplates
		if len(vct) != 1 || vct[0].Name != "state" || vct[0].Spec.Resources.Requests.Storage().String() != "2Gi" ||
			vct[0].Spec.StorageClassName == nil || *vct[0].Spec.StorageClassName != "fast" {
			t.Errorf("volumeClaimTemplates %+v, want one claim state of 2Gi, class fast", vct)
		}
		var governing *corev1.Service
		for _, o := range objs["Service"] {
			if svc := o.(*corev1.Service); svc.Name == sts.Spec.ServiceName {
				governing = svc
			}
		}
		if governing == nil || governing.Spec.ClusterIP != "None" {
			t.Fatalf("no headless Service %s governs the StatefulSet", sts.Spec.ServiceName)
		}
		for k, v := range governing.Spec.Selector {
			if sts.Spec.Template.Labels[k] != v {
				t.Errorf("Service %s selects %s=%s, which the pods do not carry", governing.Name, k, v)
			}
		}
	})

	for values, want := range map[string]string{
		"workload: DaemonSet\n":                                `workload "DaemonSet": want Deployment, or StatefulSet`,
		"workload: StatefulSet\nspool: {existingClaim: one}\n": "each shard needs a spool of its own",
	} {
		if _, err := helmTemplate(t, helm, values); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("helm template with %q = %v, want an error containing %q", values, err, want)
		}
	}
}

// podTemplate is the pod template of the one workload rendered.
func podTemplate(t *testing.T, objs map[string][]any) *corev1.PodTemplateSpec {
	t.Helper()
	switch {
	case len(objs["Deployment"])+len(objs["StatefulSet"]) != 1:
		t.Fatalf("%d Deployments and %d StatefulSets rendered, want one workload", len(objs["Deployment"]), len(objs["StatefulSet"]))
	case len(objs["StatefulSet"]) == 1:
		return &objs["StatefulSet"][0].(*appsv1.StatefulSet).Spec.Template
	}
	return &objs["Deployment"][0].(*appsv1.Deployment).Spec.Template
}

// checkRendered checks what every rendering must hold: probes, a non-root
// read-only root file system with a writable spool volume, the Service
// selecting the pods, monitors and rules selectable by kube-prometheus-
// stack, the rules of deploy/rules, and a config check-config accepts.
func checkRendered(t *testing.T, objs map[string][]any) {
	t.Helper()
	tmpl := podTemplate(t, objs)
	pod := tmpl.Spec
	c := pod.Containers[0]
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/-/healthy" {
		t.Errorf("livenessProbe %+v, want GET /-/healthy", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/-/ready" {
		t.Errorf("readinessProbe %+v, want GET /-/ready", c.ReadinessProbe)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container securityContext %+v: want a read-only root file system and no privilege escalation", sc)
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Error("pod does not run as non-root")
	}
	writable := map[string]bool{}
	for _, m := range c.VolumeMounts {
		if !m.ReadOnly {
			writable[m.MountPath] = true
		}
	}
	if !writable["/var/lib/metricwrap"] || !writable["/tmp"] {
		t.Errorf("writable mounts %v, want /var/lib/metricwrap (spool) and /tmp (runs)", writable)
	}
	svc := objs["Service"][0].(*corev1.Service)
	for k, v := range svc.Spec.Selector {
		if tmpl.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the pods do not carry", k, v)
		}
	}
	for _, o := range objs["ServiceMonitor"] {
		if sm := o.(*monitoringv1.ServiceMonitor); sm.Labels["release"] != "kube-prometheus-stack" {
			t.Errorf("ServiceMonitor %s has no release label", sm.Name)
		}
	}
	rule := objs["PrometheusRule"][0].(*monitoringv1.PrometheusRule)
	if rule.Labels["release"] != "kube-prometheus-stack" {
		t.Error("PrometheusRule has no release label")
	}
	want, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(chartDir, "files", "metricwrap.rules.yml")); !bytes.Equal(got, want) {
		t.Errorf("%s/files/metricwrap.rules.yml differs from %s: copy it over", chartDir, rulesFile)
	}
	if len(rule.Spec.Groups) != len(ruleGroups(t)) || len(rule.Spec.Groups[0].Rules) != len(list(ruleGroups(t)[0], "rules")) {
		t.Errorf("the PrometheusRule holds %d groups, not those of %s", len(rule.Spec.Groups), rulesFile)
	}

	cm := objs["ConfigMap"][0].(*corev1.ConfigMap)
	file := filepath.Join(t.TempDir(), "metricwrap.yml")
	if err := os.WriteFile(file, []byte(cm.Data["metricwrap.yml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(metricwrapBinary(t), "--config.file="+file, "check-config")
	cmd.Env = append(os.Environ(), "DT_TENANT=https://abc12345.live.dynatrace.com", "DT_API_TOKEN=dt0c01.test",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("check-config on the rendered config: %v\n%s\n%s", err, out, cm.Data["metricwrap.yml"])
	}
}
