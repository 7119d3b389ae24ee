package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad checks that no input makes loading panic, that every failure is
// an Errors whose entries name the file and a line inside it, and that a
// loaded config prints and loads back.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := LoadBytes("f.yml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T is not a non-empty Errors: %v", err, err)
			}
			lines := strings.Count(string(data), "\n") + strings.Count(string(data), "\r") + 2
			for _, e := range es {
				if e.File != "f.yml" || e.Line < 0 || e.Line > lines || e.Msg == "" {
					t.Fatalf("bad error %+v", e)
				}
			}
			return
		}
		out := c.String()
		if _, err := LoadBytes("out.yml", []byte(out)); err != nil && !strings.Contains(string(data), "$") {
			t.Fatalf("printed config does not load back: %v\n%s", err, out)
		}
	})
}
