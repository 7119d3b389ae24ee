package runner

import "testing"

// TestRunPassesOutputThrough: Spec.Stdout and Spec.Stderr get what the
// child prints, besides the tails; in stdout mode the metrics stay out.
func TestRunPassesOutputThrough(t *testing.T) {
	body := `echo to-stdout; echo to-stderr >&2; echo 'up 1' > "$METRICS_FILE"`
	var out, errOut syncBuffer
	s := spec(t, script(t, body))
	s.Stdout, s.Stderr = &out, &errOut
	res, err := Run(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "to-stdout\n" || errOut.String() != "to-stderr\n" {
		t.Errorf("passed through: stdout %q, stderr %q", out.String(), errOut.String())
	}
	if string(res.Stdout) != "to-stdout\n" || string(res.Metrics) != "up 1\n" {
		t.Errorf("result: stdout %q, metrics %q", res.Stdout, res.Metrics)
	}

	var out2 syncBuffer
	s = spec(t, script(t, `echo 'up 1'`))
	s.Output, s.Stdout = OutputStdout, &out2
	if res, err := Run(t.Context(), s); err != nil || string(res.Metrics) != "up 1\n" {
		t.Fatalf("stdout mode: %v, metrics %q", err, res.Metrics)
	}
	if out2.String() != "" {
		t.Errorf("stdout mode passed the metrics through: %q", out2.String())
	}
}
