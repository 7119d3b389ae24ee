package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadRefusesWhatIsNotARegularFile: a FIFO (no writer: a plain read
// would block for ever), a device that never ends, a directory and an
// oversized file all fail at once with a message naming what they are.
func TestLoadRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", MaxFileBytes)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yml")
	if err := os.WriteFile(filepath.Join(dir, "real.yml"), []byte("global: {timeout: 5s}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.yml", link); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		fifo:        "a named pipe (FIFO)",
		"/dev/zero": "a device",
		dir:         "a directory",
		big:         "larger than",
	} {
		start := time.Now()
		_, err := Load(file)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "regular YAML file") && want != "larger than" {
			t.Errorf("Load(%s) = %v, want an error saying %q", file, err, want)
		}
		if _, perr := LoadPartial(file); perr == nil {
			t.Errorf("LoadPartial(%s) loaded", file)
		}
		t.Logf("%s refused in %v", filepath.Base(file), time.Since(start))
	}
	// A symlink to a regular file (a ConfigMap mount) still loads.
	if c, err := Load(link); err != nil || c.Global.Timeout.String() != "5s" {
		t.Errorf("Load(symlink) = %v, %v", c, err)
	}
}

// TestReadTimeout: a read that does not finish in time fails with a
// message saying so instead of blocking its caller.
func TestReadTimeout(t *testing.T) {
	blocked := make(chan struct{})
	defer close(blocked)
	_, err := readWithin(func() ([]byte, error) { <-blocked; return nil, nil }, "stuck.yml", 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "stuck.yml: not read within 50ms") {
		t.Fatalf("err = %v, want a timeout naming the file", err)
	}
}
