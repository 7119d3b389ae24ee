package python

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakePython writes an executable python3 shell script with body into a
// fresh directory and returns its path.
func fakePython(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "python3")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

const lacksClient = `echo "ModuleNotFoundError: No module named 'prometheus_client'" >&2; exit 1`

// imports fails the test unless py can import prometheus_client.
func imports(t *testing.T, py string) {
	t.Helper()
	if out, err := exec.Command(py, "-c", "import prometheus_client").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import prometheus_client: %v\n%s", py, err, out)
	}
}

// isolate gives the test its own PATH, no METRICWRAP_PYTHON, a fallback of
// its choosing and an empty cache.
func isolate(t *testing.T, fallback string, path ...string) {
	t.Helper()
	t.Setenv("PATH", strings.Join(path, string(os.PathListSeparator)))
	t.Setenv(EnvPython, "")
	oldFallback, oldTimeout := fallbackPython, probeTimeout
	fallbackPython = fallback
	lookupsMu.Lock()
	lookups = map[string]*lookup{}
	lookupsMu.Unlock()
	t.Cleanup(func() { fallbackPython, probeTimeout = oldFallback, oldTimeout })
}

func TestFindInterpreterSkipsPythonWithoutClient(t *testing.T) {
	realPython := interpreter(t)
	fake := fakePython(t, lacksClient)
	isolate(t, filepath.Join(t.TempDir(), "none"), filepath.Dir(fake), filepath.Dir(realPython))

	got, err := FindInterpreter("")
	if err != nil {
		t.Fatal(err)
	}
	if got == fake {
		t.Fatalf("picked %s, which cannot import prometheus_client", fake)
	}
	imports(t, got)
}

func TestFindInterpreterFallback(t *testing.T) {
	realPython := interpreter(t)
	fake := fakePython(t, lacksClient)
	isolate(t, realPython, filepath.Dir(fake))

	got, err := FindInterpreter("")
	if err != nil {
		t.Fatal(err)
	}
	if got == fake {
		t.Fatalf("picked %s, which cannot import prometheus_client", fake)
	}
	imports(t, got)
}

func TestFindInterpreterNone(t *testing.T) {
	first := fakePython(t, lacksClient)
	second := fakePython(t, "exit 3")
	fallback := fakePython(t, lacksClient)
	isolate(t, fallback, filepath.Dir(first), filepath.Dir(second), filepath.Join(t.TempDir(), "no-python-here"), "relative/dir")

	_, err := FindInterpreter("")
	if !errors.Is(err, ErrNoInterpreter) {
		t.Fatalf("err = %v, want ErrNoInterpreter", err)
	}
	msg := err.Error()
	for _, want := range []string{
		first, second, fallback,
		"No module named 'prometheus_client'", "exit code 3",
		"python3-prometheus-client", "pip install prometheus-client", EnvPython,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestFindInterpreterNothingOnPath(t *testing.T) {
	isolate(t, filepath.Join(t.TempDir(), "missing"), t.TempDir())
	_, err := FindInterpreter("")
	if !errors.Is(err, ErrNoInterpreter) || !strings.Contains(err.Error(), "no python3 on PATH") {
		t.Fatalf("err = %v, want ErrNoInterpreter saying no python3 on PATH", err)
	}
}

func TestFindInterpreterExplicit(t *testing.T) {
	realPython := interpreter(t)
	fake := fakePython(t, lacksClient)

	tests := []struct {
		name     string
		explicit string
		env      string
		wantErr  string // substring; "" means success
	}{
		{name: "explicit that works", explicit: realPython},
		{name: "environment variable that works", env: realPython},
		{name: "explicit is never replaced by PATH", explicit: fake, wantErr: fake},
		{name: "explicit wins over the environment variable", explicit: fake, env: realPython, wantErr: fake},
		{name: "environment variable is never replaced by PATH", env: fake, wantErr: fake},
		{name: "bare name not on PATH", explicit: "python3.99-metricwrap-test", wantErr: "not on PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t, realPython, filepath.Dir(realPython))
			t.Setenv(EnvPython, tt.env)
			got, err := FindInterpreter(tt.explicit)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrNoInterpreter) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want ErrNoInterpreter mentioning %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			imports(t, got)
		})
	}
}

func TestFindInterpreterCachesAndResolvesShims(t *testing.T) {
	realPython := interpreter(t)
	counter := filepath.Join(t.TempDir(), "probes")
	shim := fakePython(t, "echo probe >> '"+counter+"'\nexec '"+realPython+"' \"$@\"")
	isolate(t, filepath.Join(t.TempDir(), "none"), filepath.Dir(shim))

	first, err := FindInterpreter("")
	if err != nil {
		t.Fatal(err)
	}
	second, err := FindInterpreter("")
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Errorf("second call gave %s, first %s", second, first)
	}
	if first == shim {
		t.Errorf("got the shim %s, want the interpreter behind it", shim)
	}
	imports(t, first)
	data, err := os.ReadFile(counter)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "probe"); n != 1 {
		t.Errorf("shim probed %d times, want once (the result is cached)", n)
	}
}

func TestFindInterpreterProbeTimeout(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command")
	}
	hung := fakePython(t, "exec '"+sleep+"' 60")
	isolate(t, filepath.Join(t.TempDir(), "none"), filepath.Dir(hung))
	probeTimeout = 200 * time.Millisecond

	_, err = FindInterpreter("")
	if !errors.Is(err, ErrNoInterpreter) || !strings.Contains(err.Error(), hung+" (no answer within") {
		t.Fatalf("err = %v, want the hung interpreter reported as not answering", err)
	}
}
