package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the `# error:` lines of testdata/invalid-*.yml")

// TestInvalid loads every testdata/invalid-*.yml, one per rule, and compares
// the whole error with the file's first line, `# error: TEXT`, where \n in
// TEXT separates several expected problems.
func TestInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("only %d invalid-*.yml files", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yml"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, rest, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# error: ")
			if !ok {
				t.Fatalf("first line %q is not `# error: ...`", first)
			}
			_, err = Load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T is not Errors: %v", err, err)
			}
			got := strings.ReplaceAll(err.Error(), "\n", `\n`)
			if *update {
				if err := os.WriteFile(f, []byte("# error: "+got+"\n"+rest), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("error:\n got %s\nwant %s", got, want)
			}
		})
	}
}
