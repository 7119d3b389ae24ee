package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kitchenSeries are the fixed samples of testdata/exporters/kitchen.py: one
// per prometheus_client type, as the original tool's runner wrote them.
var kitchenSeries = map[string]float64{
	`kitchen_temperature_celsius{room="kitchen"}`:                 21.5,
	`kitchen_temperature_celsius{room="pantry"}`:                  -3.25,
	`kitchen_meals_total{course="main"}`:                          3,
	`kitchen_meals_total{course="dessert"}`:                       2,
	`kitchen_prep_seconds_sum{}`:                                  8,
	`kitchen_prep_seconds_count{}`:                                3,
	`kitchen_portion_grams_bucket{le="100"}`:                      1,
	`kitchen_portion_grams_bucket{le="250"}`:                      2,
	`kitchen_portion_grams_bucket{le="500"}`:                      3,
	`kitchen_portion_grams_count{}`:                               4,
	`kitchen_portion_grams_sum{}`:                                 1390,
	`kitchen_oven_state{kitchen_oven_state="off"}`:                0,
	`kitchen_oven_state{kitchen_oven_state="heating"}`:            1,
	`kitchen_oven_state{kitchen_oven_state="ready"}`:              0,
	`kitchen_build_info{chef="Ada \"the\" Cook",version="1.2.3"}`: 1,
	`execution_seconds_count{function="KitchenExporter.clean"}`:   1,
	`execution_seconds_count{function="KitchenExporter.rinse"}`:   1,
}

var kitchenTypes = map[string]string{
	"kitchen_temperature_celsius": "gauge",
	"kitchen_meals_total":         "counter",
	"kitchen_prep_seconds":        "summary",
	"kitchen_portion_grams":       "histogram",
	"kitchen_oven_state":          "gauge",
	"kitchen_build_info":          "gauge",
	"execution_seconds":           "summary",
}

// TestPythonSeedExporters runs seed-style exporters from an exporters
// directory, unchanged, through both command forms.
func TestPythonSeedExporters(t *testing.T) {
	t.Parallel()
	env := pythonEnv(t)
	dir := testdataPath(t, "exporters")
	tests := []struct {
		name  string
		args  []string
		want  map[string]float64
		types map[string]string
	}{
		{name: "class with every type, compat form", args: []string{"--exporters.dir", dir, "--exporter", "kitchen"},
			want: kitchenSeries, types: kitchenTypes},
		{name: "class with every type, run", args: []string{"--exporters.dir", dir, "run", "kitchen"},
			want: kitchenSeries, types: kitchenTypes},
		{name: "async gather_metrics", args: []string{"--exporters.dir", dir, "run", "async_probe"},
			want: map[string]float64{`async_probe_up{target="a"}`: 1, `async_probe_up{target="b"}`: 2}},
		{name: "NAME/NAME.py with parse_args, compat form", args: []string{"--exporters.dir", dir, "--exporter", "cisco", "--target", "core-sw01", "--port=2222"},
			want: map[string]float64{
				`cisco_up{port="2222",target="core-sw01"}`:               1,
				`cisco_interfaces{target="core-sw01"}`:                   9,
				`execution_seconds_count{function="CiscoExporter.poll"}`: 1,
			}},
		{name: "NAME/NAME.py with parse_args, run ARGS", args: []string{"--exporters.dir", dir, "run", "cisco", "--", "--target", "edge-1"},
			want: map[string]float64{`cisco_up{port="22",target="edge-1"}`: 1, `cisco_interfaces{target="edge-1"}`: 6}},
		{name: "NAME/NAME.py with parse_args, run --param", args: []string{"--exporters.dir", dir, "run", "cisco", "--param", "target=edge-22"},
			want: map[string]float64{`cisco_up{port="22",target="edge-22"}`: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runMW(t, env, tc.args...)
			if r.code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
			}
			samples, meta := flatten(parseFamilies(t, r.stdout))
			wantSeries(t, tc.name, samples, tc.want)
			for name, typ := range tc.types {
				if got := strings.Fields(meta[name]); len(got) == 0 || got[0] != typ {
					t.Errorf("family %s: %q, want type %s", name, meta[name], typ)
				}
			}
			if _, ok := meta["python_info"]; ok {
				t.Error("the client's platform collector was not turned off")
			}
			for k := range samples {
				if strings.Contains(k, "_created") {
					t.Errorf("_created series present: %s", k)
				}
			}
		})
	}

	t.Run("exporter argument errors fail the run", func(t *testing.T) {
		r := runMW(t, env, "--exporters.dir", dir, "run", "cisco")
		if r.code == 0 {
			t.Fatalf("cisco without --target succeeded:\n%s", r.stdout)
		}
		if !strings.Contains(r.stderr, "--target") {
			t.Errorf("stderr does not carry argparse's complaint about --target:\n%s", r.stderr)
		}
	})
}

// TestPythonInterpreterChoice puts a python3 without prometheus_client
// first on PATH, as pyenv does: metricwrap must try it, pass over it and
// run the exporter with a working interpreter found later on PATH.
func TestPythonInterpreterChoice(t *testing.T) {
	t.Parallel()
	good := pythonEnv(t) // skips when no interpreter has the client
	var goodPython string
	for _, kv := range good {
		if v, ok := strings.CutPrefix(kv, "METRICWRAP_PYTHON="); ok {
			goodPython = v
		}
	}
	fakeDir := t.TempDir()
	probed := filepath.Join(t.TempDir(), "fake-python-was-run")
	writeFile(t, fakeDir, "python3", "#!/bin/sh\n"+
		": > '"+probed+"'\n"+
		"echo \"ModuleNotFoundError: No module named 'prometheus_client'\" >&2\n"+
		"exit 1\n", 0o755)
	goodDir := t.TempDir()
	if err := os.Symlink(goodPython, filepath.Join(goodDir, "python3")); err != nil {
		t.Fatal(err)
	}
	path := fakeDir + string(os.PathListSeparator) + goodDir + string(os.PathListSeparator) + "/usr/bin:/bin"
	env := baseEnv()
	for i, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			env[i] = "PATH=" + path
		}
	}

	r := runMW(t, env, "--exporters.dir", testdataPath(t, "exporters"), "run", "async_probe")
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	samples, _ := flatten(parseFamilies(t, r.stdout))
	wantSeries(t, "async_probe", samples, map[string]float64{`async_probe_up{target="a"}`: 1})
	if _, err := os.Stat(probed); err != nil {
		t.Errorf("the python3 first on PATH was never tried: %v", err)
	}

}
