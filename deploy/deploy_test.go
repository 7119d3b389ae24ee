// Package deploy holds the files metricwrap is deployed with (Dockerfile,
// Kubernetes manifests, systemd unit, Grafana dashboard) and the tests that
// keep them true to the code: every file parses, every object has what its
// kind needs, the embedded config loads, and the dashboard queries only
// metrics a running server exposes.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/metricwrap/metricwrap/internal/config"
	"github.com/metricwrap/metricwrap/internal/exporter"
	_ "github.com/metricwrap/metricwrap/internal/exporter/builtin" // the built-ins the example config names
)

// object is one Kubernetes object, decoded loosely.
type object struct {
	file string
	doc  map[string]any
}

func (o object) kind() string { return str(o.doc, "kind") }
func (o object) name() string { return str(o.doc, "metadata", "name") }

// get walks maps by key; nil when a step is missing or not a map.
func get(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any, path ...string) string {
	s, _ := get(v, path...).(string)
	return s
}

func list(v any, path ...string) []any {
	l, _ := get(v, path...).([]any)
	return l
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []any
	for {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs
}

// filesUnder lists the files under dir whose names end in one of exts.
func filesUnder(t *testing.T, dir string, exts ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && slices.Contains(exts, filepath.Ext(p)) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEveryFileParses(t *testing.T) {
	yamls := filesUnder(t, ".", ".yml", ".yaml")
	jsons := filesUnder(t, ".", ".json")
	if len(yamls) < 5 || len(jsons) < 1 {
		t.Fatalf("found %d YAML and %d JSON files under deploy/; the walk is broken", len(yamls), len(jsons))
	}
	for _, p := range yamls {
		if strings.Contains(p, string(filepath.Separator)+"templates"+string(filepath.Separator)) {
			continue // Helm templates: YAML only once rendered (helm_test.go)
		}
		t.Run(p, func(t *testing.T) {
			if len(yamlDocs(t, p)) == 0 {
				t.Errorf("%s holds no YAML document", p)
			}
		})
	}
	for _, p := range jsons {
		t.Run(p, func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(data, &v); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		})
	}
}

// kubeObjects decodes every object of deploy/kubernetes but the
// Kustomization.
func kubeObjects(t *testing.T) []object {
	t.Helper()
	var out []object
	for _, p := range filesUnder(t, "kubernetes", ".yaml", ".yml") {
		for _, d := range yamlDocs(t, p) {
			m, ok := d.(map[string]any)
			if !ok {
				t.Fatalf("%s: a document is not a mapping", p)
			}
			out = append(out, object{file: p, doc: m})
		}
	}
	return out
}

// dnsSubdomain is what Kubernetes accepts as most objects' names (RFC 1123).
var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// requiredByKind checks what each kind needs beyond apiVersion, kind and
// metadata.name; it returns the problems found.
var requiredByKind = map[string]func(o object) []string{
	"Deployment": func(o object) []string {
		var p []string
		if get(o.doc, "spec", "selector", "matchLabels") == nil {
			p = append(p, "spec.selector.matchLabels missing")
		}
		if !labelsMatch(get(o.doc, "spec", "selector", "matchLabels"), get(o.doc, "spec", "template", "metadata", "labels")) {
			p = append(p, "spec.selector does not match the template's labels")
		}
		return append(p, checkPodSpec(get(o.doc, "spec", "template", "spec"), "")...)
	},
	"StatefulSet": func(o object) []string {
		var p []string
		if !labelsMatch(get(o.doc, "spec", "selector", "matchLabels"), get(o.doc, "spec", "template", "metadata", "labels")) {
			p = append(p, "spec.selector does not match the template's labels")
		}
		if str(o.doc, "spec", "serviceName") == "" {
			p = append(p, "spec.serviceName missing")
		}
		return append(p, checkPodSpec(get(o.doc, "spec", "template", "spec"), "")...)
	},
	"Job": func(o object) []string {
		return checkPodSpec(get(o.doc, "spec", "template", "spec"), "job")
	},
	"Service": func(o object) []string {
		var p []string
		ports := list(o.doc, "spec", "ports")
		if len(ports) == 0 {
			p = append(p, "spec.ports missing")
		}
		for _, port := range ports {
			if get(port, "port") == nil {
				p = append(p, "a port has no port number")
			}
		}
		if get(o.doc, "spec", "selector") == nil {
			p = append(p, "spec.selector missing")
		}
		return p
	},
	"ServiceMonitor": func(o object) []string {
		var p []string
		eps := list(o.doc, "spec", "endpoints")
		if len(eps) == 0 {
			p = append(p, "spec.endpoints missing")
		}
		for i, ep := range eps {
			if str(ep, "port") == "" {
				p = append(p, "endpoint without port")
			}
			if !strings.HasPrefix(str(ep, "path"), "/metrics") {
				p = append(p, "endpoint path is not /metrics or /metrics/NAME")
			}
			if get(ep, "params") != nil && i > 0 && len(list(ep, "relabelings")) == 0 {
				p = append(p, "a multi-target endpoint has no relabelings (instance would be metricwrap's pod)")
			}
		}
		if get(o.doc, "spec", "selector", "matchLabels") == nil {
			p = append(p, "spec.selector.matchLabels missing")
		}
		return p
	},
	"Probe": func(o object) []string {
		var p []string
		if str(o.doc, "spec", "prober", "url") == "" {
			p = append(p, "spec.prober.url missing")
		}
		if !strings.HasPrefix(str(o.doc, "spec", "prober", "path"), "/metrics/") {
			p = append(p, "spec.prober.path is not /metrics/NAME")
		}
		if len(list(o.doc, "spec", "targets", "staticConfig", "static")) == 0 {
			p = append(p, "spec.targets.staticConfig.static missing")
		}
		return p
	},
	"PrometheusRule": func(o object) []string {
		if len(list(o.doc, "spec", "groups")) == 0 {
			return []string{"spec.groups missing"}
		}
		return nil
	},
	"ConfigMap": func(o object) []string {
		if str(o.doc, "data", "metricwrap.yml") == "" {
			return []string{"data.metricwrap.yml missing"}
		}
		return nil
	},
}

// checkPodSpec checks a pod template's spec: containers with images, and
// non-root settings; a job's pod must not restart forever.
func checkPodSpec(spec any, kind string) []string {
	var p []string
	if spec == nil {
		return []string{"spec.template.spec missing"}
	}
	containers := list(spec, "containers")
	if len(containers) == 0 {
		p = append(p, "no containers")
	}
	for _, c := range containers {
		if str(c, "image") == "" {
			p = append(p, "container "+str(c, "name")+" has no image")
		}
		if get(c, "securityContext", "allowPrivilegeEscalation") != false {
			p = append(p, "container "+str(c, "name")+" allows privilege escalation")
		}
	}
	if get(spec, "securityContext", "runAsNonRoot") != true {
		p = append(p, "pod securityContext.runAsNonRoot is not true")
	}
	if kind == "job" {
		switch str(spec, "restartPolicy") {
		case "Never", "OnFailure":
		default:
			p = append(p, "restartPolicy must be Never or OnFailure")
		}
	}
	return p
}

// labelsMatch reports whether every selector label is among labels.
func labelsMatch(selector, labels any) bool {
	sel, _ := selector.(map[string]any)
	lab, _ := labels.(map[string]any)
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if lab[k] != v {
			return false
		}
	}
	return true
}

func TestKubernetesObjects(t *testing.T) {
	objs := kubeObjects(t)
	kinds := map[string]bool{}
	for _, o := range objs {
		t.Run(o.file+"/"+o.kind(), func(t *testing.T) {
			if o.kind() == "Kustomization" {
				return
			}
			if str(o.doc, "apiVersion") == "" || o.kind() == "" || o.name() == "" {
				t.Fatalf("apiVersion, kind and metadata.name are required")
			}
			if !dnsSubdomain.MatchString(o.name()) {
				t.Errorf("metadata.name %q is not a valid Kubernetes name", o.name())
			}
			check, ok := requiredByKind[o.kind()]
			if !ok {
				t.Fatalf("no checks for kind %s: add them", o.kind())
			}
			for _, problem := range check(o) {
				t.Errorf("%s %s: %s", o.kind(), o.name(), problem)
			}
		})
		kinds[o.kind()] = true
	}
	for _, k := range []string{"Deployment", "StatefulSet", "Service", "ServiceMonitor", "Probe", "PrometheusRule", "ConfigMap", "Job", "Kustomization"} {
		if !kinds[k] {
			t.Errorf("no %s under deploy/kubernetes", k)
		}
	}
}

// byKind returns the only object of a kind.
func byKind(t *testing.T, objs []object, kind string) object {
	t.Helper()
	var found []object
	for _, o := range objs {
		if o.kind() == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s, found %d", kind, len(found))
	}
	return found[0]
}

// byName returns the object of a kind and name.
func byName(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return object{}
}

// TestKubernetesReferences checks that the objects name each other
// correctly: what a typo in one file would break at deploy time.
func TestKubernetesReferences(t *testing.T) {
	objs := kubeObjects(t)
	dep := byKind(t, objs, "Deployment")
	svc := byName(t, objs, "Service", "metricwrap")
	sm := byName(t, objs, "ServiceMonitor", "metricwrap")
	probe := byKind(t, objs, "Probe")
	cm := byKind(t, objs, "ConfigMap")
	job := byKind(t, objs, "Job")
	secretName := dynatraceSecretName(t)

	podLabels := get(dep.doc, "spec", "template", "metadata", "labels")
	container := list(dep.doc, "spec", "template", "spec", "containers")[0]
	portNames := map[string]bool{}
	for _, p := range list(container, "ports") {
		portNames[str(p, "name")] = true
	}
	svcPorts := map[string]bool{}
	for _, p := range list(svc.doc, "spec", "ports") {
		svcPorts[str(p, "name")] = true
		if tp, ok := get(p, "targetPort").(string); ok && !portNames[tp] {
			t.Errorf("Service targetPort %q is no container port name", tp)
		}
	}

	checks := []struct {
		name string
		ok   bool
	}{
		{"Service selects the Deployment's pods", labelsMatch(get(svc.doc, "spec", "selector"), podLabels)},
		{"ServiceMonitor selects the Service", labelsMatch(get(sm.doc, "spec", "selector", "matchLabels"), get(svc.doc, "metadata", "labels"))},
		{"ServiceMonitor looks in the Service's namespace", slices.Contains(list(sm.doc, "spec", "namespaceSelector", "matchNames"), any(str(svc.doc, "metadata", "namespace")))},
		{"Probe's prober is the Service", strings.HasPrefix(str(probe.doc, "spec", "prober", "url"), svc.name()+"."+str(svc.doc, "metadata", "namespace")+".svc:")},
		{"liveness probe is /-/healthy", str(container, "livenessProbe", "httpGet", "path") == "/-/healthy"},
		{"readiness probe is /-/ready", str(container, "readinessProbe", "httpGet", "path") == "/-/ready"},
		{"container has resources", get(container, "resources", "requests") != nil && get(container, "resources", "limits") != nil},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Error("not so")
			}
		})
	}
	for _, ep := range list(sm.doc, "spec", "endpoints") {
		if !svcPorts[str(ep, "port")] {
			t.Errorf("ServiceMonitor endpoint port %q is no Service port name", str(ep, "port"))
		}
	}
	for _, o := range []object{dep, job} {
		spec := get(o.doc, "spec", "template", "spec")
		for _, v := range list(spec, "volumes") {
			if cmName := str(v, "configMap", "name"); cmName != "" && cmName != cm.name() {
				t.Errorf("%s mounts ConfigMap %q, not %q", o.kind(), cmName, cm.name())
			}
		}
		for _, c := range list(spec, "containers") {
			for _, ef := range list(c, "envFrom") {
				if n := str(ef, "secretRef", "name"); n != "" && n != secretName {
					t.Errorf("%s reads Secret %q, not %q", o.kind(), n, secretName)
				}
			}
		}
	}
}

// kustomizations maps each directory under deploy/kubernetes that has a
// kustomization.yaml to it.
func kustomizations(t *testing.T) map[string]object {
	t.Helper()
	out := map[string]object{}
	for _, o := range kubeObjects(t) {
		if o.kind() == "Kustomization" {
			out[filepath.Dir(o.file)] = o
		}
	}
	return out
}

// dynatraceSecretName is the Secret deploy/kubernetes/dynatrace generates
// from the dt-details.env a user writes, after checking that the example
// of that file holds both variables.
func dynatraceSecretName(t *testing.T) string {
	t.Helper()
	k, ok := kustomizations(t)[filepath.Join("kubernetes", "dynatrace")]
	if !ok {
		t.Fatal("no kubernetes/dynatrace/kustomization.yaml")
	}
	gens := list(k.doc, "secretGenerator")
	if len(gens) != 1 || get(gens[0], "options", "disableNameSuffixHash") != true {
		t.Fatalf("want one secretGenerator without a name suffix (the pods name it as is), got %v", gens)
	}
	envs := list(gens[0], "envs")
	if len(envs) != 1 {
		t.Fatalf("secretGenerator envs %v, want one file", envs)
	}
	example, err := os.ReadFile(filepath.Join("kubernetes", "dynatrace", envs[0].(string)+".example"))
	if err != nil {
		t.Fatalf("no example of %s: %v", envs[0], err)
	}
	for _, v := range []string{"DT_TENANT=", "DT_API_TOKEN="} {
		if !strings.Contains(string(example), "\n"+v) {
			t.Errorf("%s.example has no %s", envs[0], v)
		}
	}
	ignore, err := os.ReadFile(filepath.Join("kubernetes", "dynatrace", ".gitignore"))
	if err != nil || !slices.Contains(strings.Fields(string(ignore)), envs[0].(string)) {
		t.Errorf("kubernetes/dynatrace/.gitignore does not keep %s (real credentials) out of git", envs[0])
	}
	return str(gens[0], "name")
}

// TestKustomizations: each kustomization lists the files of its directory
// and only files that exist; the base one (what a plain `kubectl apply -k
// deploy/kubernetes` applies) neither writes a Secret nor starts a Job, and
// its monitors and rules carry the label kube-prometheus-stack selects by.
func TestKustomizations(t *testing.T) {
	kusts := kustomizations(t)
	for _, dir := range []string{"kubernetes", filepath.Join("kubernetes", "sharded"), filepath.Join("kubernetes", "dynatrace"), filepath.Join("kubernetes", "examples", "backup-job")} {
		if _, ok := kusts[dir]; !ok {
			t.Errorf("no %s/kustomization.yaml", dir)
		}
	}
	for dir, k := range kusts {
		var listed []string
		for _, r := range list(k.doc, "resources") {
			listed = append(listed, r.(string))
		}
		for _, p := range filesUnder(t, dir, ".yaml", ".yml") {
			if filepath.Dir(p) != dir || filepath.Base(p) == "kustomization.yaml" {
				continue
			}
			if !slices.Contains(listed, filepath.Base(p)) {
				t.Errorf("%s/kustomization.yaml does not list %s", dir, filepath.Base(p))
			}
		}
		for _, r := range listed {
			if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
				t.Errorf("%s/kustomization.yaml lists %s: %v", dir, r, err)
			}
		}
	}
	base := kusts["kubernetes"]
	if get(base.doc, "secretGenerator") != nil {
		t.Error("the base kustomization generates a Secret: a plain apply would overwrite the real one")
	}
	for _, r := range list(base.doc, "resources") {
		for _, o := range kubeObjects(t) {
			if filepath.Join("kubernetes", r.(string)) != o.file {
				continue
			}
			switch o.kind() {
			case "Secret", "Job":
				t.Errorf("the base kustomization applies %s %s (%s): make it opt-in", o.kind(), o.name(), o.file)
			case "ServiceMonitor", "Probe", "PrometheusRule":
				if str(o.doc, "metadata", "labels", "release") != "kube-prometheus-stack" {
					t.Errorf("%s %s has no release: kube-prometheus-stack label; a default kube-prometheus-stack Prometheus ignores it", o.kind(), o.name())
				}
			}
		}
	}
}

// TestPushgatewayServiceMonitor: what metricwrap pushes keeps its job and
// instance labels when Prometheus scrapes the Pushgateway.
func TestPushgatewayServiceMonitor(t *testing.T) {
	objs := kubeObjects(t)
	sm := byName(t, objs, "ServiceMonitor", "metricwrap-pushgateway")
	eps := list(sm.doc, "spec", "endpoints")
	if len(eps) == 0 {
		t.Fatal("no endpoints")
	}
	for _, ep := range eps {
		if get(ep, "honorLabels") != true {
			t.Errorf("endpoint %v: honorLabels is not true: pushed job labels would become exported_job", ep)
		}
	}
	// The sink of the ConfigMap pushes to the Service this monitor selects
	// (the prometheus-community chart's name and label).
	cfg, err := config.LoadBytes("configmap.yaml", []byte(str(byKind(t, objs, "ConfigMap").doc, "data", "metricwrap.yml")))
	if err != nil {
		t.Fatal(err)
	}
	name := str(sm.doc, "spec", "selector", "matchLabels", "app.kubernetes.io/name")
	ns := list(sm.doc, "spec", "namespaceSelector", "matchNames")
	if len(ns) != 1 || !strings.Contains(cfg.Sinks["gateway"].URL, "//"+name+"."+ns[0].(string)+".svc:") {
		t.Errorf("sink gateway pushes to %s, not to the Service %s in %v that the monitor selects", cfg.Sinks["gateway"].URL, name, ns)
	}
}

// flagValue returns the value of --name=VALUE among args.
func flagValue(args []any, name string) string {
	for _, a := range args {
		if s, ok := a.(string); ok {
			if v, ok := strings.CutPrefix(s, "--"+name+"="); ok {
				return v
			}
		}
	}
	return ""
}

// TestConfigMapConfig loads the embedded metricwrap.yml as serve would, and
// checks that the Deployment and the Job point at it and at what it defines.
func TestConfigMapConfig(t *testing.T) {
	objs := kubeObjects(t)
	cm := byKind(t, objs, "ConfigMap")
	data := str(cm.doc, "data", "metricwrap.yml")
	cfg, err := config.LoadBytes("configmap.yaml:metricwrap.yml", []byte(data))
	if err != nil {
		t.Fatalf("the ConfigMap's metricwrap.yml does not load:\n%v", err)
	}
	set, err := exporter.Build(cfg, exporter.BuildOptions{ConfigFile: "metricwrap.yml", ExportersDir: t.TempDir()})
	if err != nil {
		t.Fatalf("the ConfigMap's exporters do not build:\n%v", err)
	}
	for _, name := range []string{"dummy", "health"} {
		if _, ok := set.Get(name); !ok {
			t.Errorf("exporter %s missing; the ServiceMonitor scrapes it", name)
		}
	}
	health, _ := set.Get("health")
	if health != nil {
		for _, ep := range list(byName(t, objs, "ServiceMonitor", "metricwrap").doc, "spec", "endpoints") {
			for _, target := range list(ep, "params", "target") {
				if p := health.Params()["target"]; p != nil && p.Pattern != nil && !p.Pattern.MatchString(target.(string)) {
					t.Errorf("ServiceMonitor target %q would get 400: it does not match %s", target, p.Pattern)
				}
			}
		}
		for _, target := range list(byKind(t, objs, "Probe").doc, "spec", "targets", "staticConfig", "static") {
			if p := health.Params()["target"]; p != nil && p.Pattern != nil && !p.Pattern.MatchString(target.(string)) {
				t.Errorf("Probe target %q would get 400: it does not match %s", target, p.Pattern)
			}
		}
	}

	for _, kind := range []string{"Deployment", "StatefulSet", "Job"} {
		o := byKind(t, objs, kind)
		spec := get(o.doc, "spec", "template", "spec")
		c := list(spec, "containers")[0]
		args := list(c, "args")
		file := flagValue(args, "config.file")
		mounted := false
		for _, m := range list(c, "volumeMounts") {
			if str(m, "name") == "config" && filepath.Join(str(m, "mountPath"), "metricwrap.yml") == file {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("%s: --config.file=%s is not where the ConfigMap is mounted", kind, file)
		}
		if kind == "Job" {
			if len(args) == 0 || args[0] != "exec" {
				t.Errorf("Job does not run metricwrap exec: args %v", args)
			}
			jobName := flagValue(args, "job")
			jc, ok := cfg.Jobs[jobName]
			if !ok {
				t.Fatalf("Job runs --job=%s, which the config does not define", jobName)
			}
			if len(jc.Sinks) == 0 && flagValue(args, "push") == "" {
				t.Errorf("Job %s pushes nowhere", jobName)
			}
		}
	}
}

// dockerStage is one FROM ... AS name of a Dockerfile with its
// instructions, continuation lines joined.
type dockerStage struct {
	from, name string
	lines      []string
}

func parseDockerfile(t *testing.T, path string) []dockerStage {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []dockerStage
	var cur strings.Builder
	// The ARGs before the first FROM, which FROM lines may use.
	globalArgs := map[string]string{}
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		fields := strings.Fields(line)
		if len(stages) == 0 && strings.EqualFold(fields[0], "ARG") {
			if k, v, ok := strings.Cut(fields[1], "="); ok {
				globalArgs[k] = v
			}
			return
		}
		if strings.EqualFold(fields[0], "FROM") {
			st := dockerStage{from: os.Expand(fields[1], func(k string) string { return globalArgs[k] })}
			if len(fields) == 4 && strings.EqualFold(fields[2], "AS") {
				st.name = fields[3]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) > 0 {
			stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, line)
		}
	}
	for _, raw := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(raw)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

func (s dockerStage) instructions(name string) []string {
	var out []string
	for _, l := range s.lines {
		if f := strings.Fields(l); strings.EqualFold(f[0], name) {
			out = append(out, strings.TrimSpace(l[len(f[0]):]))
		}
	}
	return out
}

// TestDockerfile checks by reading what no Docker engine here can build:
// the stages, the static build, non-root final images, the EXPORTERS
// argument and that every file copied from the context exists.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "Dockerfile")
	byName := map[string]dockerStage{}
	for _, s := range stages {
		byName[s.name] = s
	}
	if len(stages) == 0 || stages[len(stages)-1].name != "static" {
		t.Fatalf("the last stage (docker build's default target) must be the static image")
	}
	build, python, static := byName["build"], byName["python"], byName["static"]
	run := strings.Join(build.instructions("RUN"), "\n")
	for _, want := range []string{"CGO_ENABLED=0", "go build", "-trimpath", "./cmd/metricwrap"} {
		if !strings.Contains(run, want) {
			t.Errorf("build stage: no %q in its RUN lines", want)
		}
	}
	if !strings.Contains(static.from, "distroless/static") && static.from != "scratch" {
		t.Errorf("static stage is FROM %s, want a distroless static or scratch base", static.from)
	}
	// Pinned bases: a rebuild gets the same image until someone refreshes
	// the digest (the Dockerfile's comment says how).
	digestRE := regexp.MustCompile(`^[^@\s]+:[^@\s]+@sha256:[0-9a-f]{64}$`)
	for _, s := range []dockerStage{build, python, static} {
		if !digestRE.MatchString(s.from) {
			t.Errorf("stage %s is FROM %s: pin the tag by digest (IMAGE:TAG@sha256:...)", s.name, s.from)
		}
	}
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "imagetools inspect") {
		t.Error("the Dockerfile does not say how to refresh its digests")
	}
	for _, s := range []dockerStage{python, static} {
		labels := strings.Join(s.instructions("LABEL"), " ")
		for _, want := range []string{"org.opencontainers.image.source=", "org.opencontainers.image.version=", "org.opencontainers.image.revision=", "org.opencontainers.image.title="} {
			if !strings.Contains(labels, want) {
				t.Errorf("stage %s has no %s label", s.name, want)
			}
		}
	}
	if hc := python.instructions("HEALTHCHECK"); len(hc) != 1 || !strings.Contains(hc[0], "/-/healthy") {
		t.Errorf("python stage: HEALTHCHECK %v, want one probing /-/healthy", hc)
	}
	for _, s := range []dockerStage{python, static} {
		users := s.instructions("USER")
		if len(users) == 0 {
			t.Errorf("stage %s runs as root: no USER", s.name)
			continue
		}
		if u := strings.Split(users[len(users)-1], ":")[0]; u == "0" || u == "root" {
			t.Errorf("stage %s runs as %s", s.name, u)
		}
		if ep := s.instructions("ENTRYPOINT"); len(ep) != 1 || !strings.HasPrefix(ep[0], `["/usr/bin/metricwrap"`) {
			t.Errorf("stage %s: ENTRYPOINT %v, want the exec form of /usr/bin/metricwrap", s.name, ep)
		}
	}
	if !slices.ContainsFunc(python.instructions("ARG"), func(a string) bool { return strings.HasPrefix(a, "EXPORTERS") }) {
		t.Error("python stage has no EXPORTERS build argument")
	}
	if !strings.Contains(strings.Join(python.instructions("RUN"), "\n"), "install-exporter-requirements") {
		t.Error("python stage does not run install-exporter-requirements")
	}
	if !strings.Contains(strings.Join(python.instructions("RUN"), "\n"), "prometheus-client") {
		t.Error("python stage does not install prometheus-client")
	}
	root := filepath.Join("..")
	for _, s := range stages {
		for _, c := range s.instructions("COPY") {
			if strings.Contains(c, "--from=") {
				continue
			}
			fields := strings.Fields(c)
			var srcs []string
			for _, f := range fields[:len(fields)-1] {
				if !strings.HasPrefix(f, "--") {
					srcs = append(srcs, f)
				}
			}
			for _, src := range srcs {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("stage %s copies %s from the context: %v", s.name, src, err)
				}
			}
		}
	}
}

// TestInstallExporterRequirements runs the helper with a fake pip that
// records its arguments.
func TestInstallExporterRequirements(t *testing.T) {
	script, err := filepath.Abs("install-exporter-requirements.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	exporters := filepath.Join(dir, "exporters")
	for _, name := range []string{"cisco", "snmp", "noreq"} {
		if err := os.MkdirAll(filepath.Join(exporters, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if name != "noreq" {
			if err := os.WriteFile(filepath.Join(exporters, name, "requirements.txt"), []byte("requests\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(dir, "pip-args")
	fakePip := "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"" + record + "\"\nexit ${FAKE_PIP_EXIT:-0}\n"
	if err := os.WriteFile(filepath.Join(bin, "pip"), []byte(fakePip), 0o755); err != nil {
		t.Fatal(err)
	}

	req := func(n string) string { return filepath.Join(exporters, n, "requirements.txt") }
	tests := []struct {
		name     string
		list     string
		pipExit  string
		wantExit int
		wantArgs []string // nil: pip must not run
	}{
		{"empty list", "", "", 0, nil},
		{"comma separated", "cisco,snmp", "", 0, []string{"install", "--no-cache-dir", "-r", req("cisco"), "-r", req("snmp")}},
		{"spaces and commas", " cisco , snmp ", "", 0, []string{"install", "--no-cache-dir", "-r", req("cisco"), "-r", req("snmp")}},
		{"built-in without requirements is skipped", "dummy,cisco", "", 0, []string{"install", "--no-cache-dir", "-r", req("cisco")}},
		{"exporter without requirements.txt", "noreq", "", 0, nil},
		{"path traversal refused", "../etc", "", 2, nil},
		{"slash refused", "cisco/../snmp", "", 2, nil},
		{"dot-dot refused", "..", "", 2, nil},
		{"pip failure is the script's failure", "cisco", "3", 3, []string{"install", "--no-cache-dir", "-r", req("cisco")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(record)
			cmd := exec.Command("/bin/sh", script, exporters, tc.list)
			cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "FAKE_PIP_EXIT=" + tc.pipExit}
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantExit {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tc.wantExit, out)
			}
			got, err := os.ReadFile(record)
			if tc.wantArgs == nil {
				if err == nil {
					t.Fatalf("pip ran with %q; it should not have", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("pip did not run; output:\n%s", out)
			}
			if args := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n"); !slices.Equal(args, tc.wantArgs) {
				t.Errorf("pip args %q, want %q", args, tc.wantArgs)
			}
		})
	}
}

// TestSystemdUnit runs systemd-analyze verify on the unit, with ExecStart
// pointing at an executable that exists (verify checks that), and on a
// broken copy to prove that problems are noticed.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit, err := os.ReadFile(filepath.Join("systemd", "metricwrap.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecReload=/bin/kill -HUP $MAINPID", "NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=metricwrap", "EnvironmentFile=-/etc/default/metricwrap"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("unit lacks %s", want)
		}
	}
	if !bytes.Contains(unit, []byte("DynamicUser=yes")) && !bytes.Contains(unit, []byte("User=metricwrap")) {
		t.Error("unit runs as root: neither DynamicUser=yes nor User=metricwrap")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "metricwrap")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	good := bytes.ReplaceAll(unit, []byte("/usr/bin/metricwrap"), []byte(fake))
	tests := []struct {
		name     string
		unit     []byte
		wantOK   bool
		wantText string
	}{
		{"as shipped", good, true, ""},
		{"misspelt key is reported", bytes.Replace(good, []byte("ProtectSystem=strict"), []byte("ProtectSystm=strict"), 1), false, "ProtectSystm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "metricwrap.service")
			if err := os.WriteFile(path, tc.unit, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(analyze, "verify", path).CombinedOutput()
			// verify exits 0 on unknown keys and bad values but prints them:
			// any line about the unit file is a problem.
			problems := strings.Contains(string(out), path) || err != nil
			if problems == tc.wantOK {
				t.Fatalf("systemd-analyze verify (err %v):\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.wantText) {
				t.Errorf("output lacks %q:\n%s", tc.wantText, out)
			}
		})
	}
}

// TestShardedStatefulSet: the sharded StatefulSet takes each replica's
// shard from its pod name, splits into as many shards as it has replicas,
// keeps each spool on the replica's own volume, and is governed by a
// headless Service that selects its pods; its kustomization replaces the
// base's Deployment with it.
func TestShardedStatefulSet(t *testing.T) {
	objs := kubeObjects(t)
	sts := byKind(t, objs, "StatefulSet")
	spec := get(sts.doc, "spec", "template", "spec")
	c := list(spec, "containers")[0]
	args := list(c, "args")
	if v := flagValue(args, "cluster.shard"); v != "auto" {
		t.Errorf("--cluster.shard=%q, want auto (the pod's ordinal)", v)
	}
	if v := flagValue(args, "cluster.shards"); v != fmt.Sprint(get(sts.doc, "spec", "replicas")) {
		t.Errorf("--cluster.shards=%s, but %v replicas", v, get(sts.doc, "spec", "replicas"))
	}
	if !slices.Contains(args, any("--web.enable-lifecycle")) {
		t.Error("no --web.enable-lifecycle: POST /-/reload is how a shard count change reaches every replica")
	}
	var stateMount string
	for _, m := range list(c, "volumeMounts") {
		if str(m, "name") == "state" {
			stateMount = str(m, "mountPath")
		}
	}
	claims := map[string]bool{}
	for _, vct := range list(sts.doc, "spec", "volumeClaimTemplates") {
		claims[str(vct, "metadata", "name")] = true
	}
	for _, v := range list(spec, "volumes") {
		if str(v, "name") == "state" {
			t.Error("the state volume is a pod volume: replicas would lose their spools on restart")
		}
	}
	cfg, err := config.LoadBytes("configmap.yaml", []byte(str(byKind(t, objs, "ConfigMap").doc, "data", "metricwrap.yml")))
	if err != nil {
		t.Fatal(err)
	}
	if !claims["state"] || stateMount == "" || !strings.HasPrefix(cfg.Spool.Dir, stateMount+"/") {
		t.Errorf("spool.dir %s is not on the claim template state (mounted at %q, claims %v)", cfg.Spool.Dir, stateMount, claims)
	}
	headless := byName(t, objs, "Service", str(sts.doc, "spec", "serviceName"))
	if str(headless.doc, "spec", "clusterIP") != "None" {
		t.Errorf("Service %s governs the StatefulSet but is not headless", headless.name())
	}
	if !labelsMatch(get(headless.doc, "spec", "selector"), get(sts.doc, "spec", "template", "metadata", "labels")) {
		t.Errorf("Service %s does not select the StatefulSet's pods", headless.name())
	}
	// The base Service (scrapes, the Probe) reaches the shards too.
	if !labelsMatch(get(byName(t, objs, "Service", "metricwrap").doc, "spec", "selector"), get(sts.doc, "spec", "template", "metadata", "labels")) {
		t.Error("the Service metricwrap does not select the StatefulSet's pods")
	}
	k := kustomizations(t)[filepath.Join("kubernetes", "sharded")]
	patches := list(k.doc, "patches")
	if len(patches) != 1 || !strings.Contains(str(patches[0], "patch"), "$patch: delete") || !strings.Contains(str(patches[0], "patch"), "kind: Deployment") {
		t.Errorf("the sharded kustomization does not delete the base's Deployment: %v", patches)
	}
	if !slices.Contains(list(k.doc, "resources"), any("..")) {
		t.Error("the sharded kustomization does not build on the base (..)")
	}
}
