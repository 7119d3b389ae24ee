package python

import (
	"reflect"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		path, dir, name string
		wantErr         bool
	}{
		{path: "exporters/dummy.py", dir: "exporters", name: "dummy"},
		{path: "/srv/exporters/cisco/cisco.py", dir: "/srv/exporters", name: "cisco"},
		{path: "/srv/my-exporters/cisco.py", dir: "/srv/my-exporters", name: "cisco"},
		{path: "exporters/cisco/helper.py", dir: "exporters/cisco", name: "helper"},
		{path: "exporters/run.sh", wantErr: true},
		{path: "exporters/.py", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			dir, name, err := Split(tt.path)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if dir != tt.dir || name != tt.name {
				t.Errorf("Split = (%q, %q), want (%q, %q)", dir, name, tt.dir, tt.name)
			}
		})
	}
}

func TestRunnerArgs(t *testing.T) {
	tests := []struct {
		debug bool
		want  []string
	}{
		{false, []string{"/c/run.py", "--exporters-dir", "/e", "--exporter", "x", "--"}},
		{true, []string{"/c/run.py", "--exporters-dir", "/e", "--exporter", "x", "--debug", "--"}},
	}
	for _, tt := range tests {
		if got := RunnerArgs("/c/run.py", "/e", "x", tt.debug); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("debug=%v: %v, want %v", tt.debug, got, tt.want)
		}
	}
}

func TestCutJobLine(t *testing.T) {
	tests := []struct {
		in, metrics, job string
	}{
		{"a 1\n# metricwrap-job: \"DynJob_x\"\n", "a 1\n", "DynJob_x"},
		{"# metricwrap-job: \"only\"\n", "", "only"},
		{"a 1\n", "a 1\n", ""},
		{"", "", ""},
		{"# metricwrap-job: \"first\"\na 1\n", "# metricwrap-job: \"first\"\na 1\n", ""},
		{"a 1\n# metricwrap-job: not json\n", "a 1\n# metricwrap-job: not json\n", ""},
		{"a 1\n# metricwrap-job: \"q\\\"uote\"", "a 1\n", "q\"uote"},
	}
	for _, tt := range tests {
		metrics, job := cutJobLine([]byte(tt.in))
		if string(metrics) != tt.metrics || job != tt.job {
			t.Errorf("cutJobLine(%q) = %q, %q; want %q, %q", tt.in, metrics, job, tt.metrics, tt.job)
		}
	}
}
