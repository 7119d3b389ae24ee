package exporter

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/metricwrap/metricwrap/internal/config"
)

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, body string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("exporter.py", "class Exporter(object):\n    pass\n", 0o644)
	write("__init__.py", "", 0o644)
	write("dummy.py", "from exporters.exporter import Exporter\nclass DummyExporter(Exporter):\n    pass\n", 0o644)
	write("cisco/cisco.py", "from exporters.exporter import Exporter\n\nclass CiscoExporter(Exporter):\n    pass\n", 0o644)
	write("cisco/requirements.txt", "netmiko\n", 0o644)
	write("plain.py", "import os\nopen(os.environ['METRICS_FILE'],'w').write('x 1\\n')\n", 0o644)
	write("disk.sh", "#!/bin/sh\necho x 1\n", 0o644)
	write("tool", "#!/bin/sh\n", 0o755)
	write("notes.txt", "not executable", 0o644)
	write("bad name!", "#!/bin/sh\n", 0o755)
	write(".hidden", "#!/bin/sh\n", 0o755)
	write("sub/sub", "#!/bin/sh\n", 0o755)
	write("empty/README", "", 0o644)
	write("lib/timing.py", "", 0o644)

	got, err := Discover(dir, DiscoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Found{
		{Name: "cisco", Path: filepath.Join(dir, "cisco/cisco.py"), Python: true},
		{Name: "disk", Path: filepath.Join(dir, "disk.sh")},
		{Name: "dummy", Path: filepath.Join(dir, "dummy.py"), Python: true},
		{Name: "plain", Path: filepath.Join(dir, "plain.py"), Python: true},
		{Name: "sub", Path: filepath.Join(dir, "sub/sub")},
		{Name: "tool", Path: filepath.Join(dir, "tool")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// TestDiscoverSymlinkedSubdir: DIR/NAME may be a symlink to a directory
// (a checkout of one exporter linked in); its NAME file is found when it
// resolves inside DIR, or with FollowSymlinks, and skipped with one report
// otherwise, never silently and never twice.
func TestDiscoverSymlinkedSubdir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "exporters")
	for _, d := range []string{filepath.Join(dir, "real"), filepath.Join(root, "elsewhere", "out")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{filepath.Join(dir, "real", "in.sh"), filepath.Join(root, "elsewhere", "out", "out.sh")} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("real", filepath.Join(dir, "in")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "elsewhere", "out"), filepath.Join(dir, "out")); err != nil {
		t.Fatal(err)
	}
	var skipped []string
	got, err := Discover(dir, DiscoverOptions{Skipped: func(path, _ string) { skipped = append(skipped, path) }})
	if err != nil {
		t.Fatal(err)
	}
	want := []Found{{Name: "in", Path: filepath.Join(dir, "in", "in.sh")}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(skipped, []string{filepath.Join(dir, "out", "out.sh")}) {
		t.Fatalf("skipped reported %v, want out/out.sh once", skipped)
	}
	got, err = Discover(dir, DiscoverOptions{FollowSymlinks: true})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, Found{Name: "out", Path: filepath.Join(dir, "out", "out.sh")})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("with FollowSymlinks: got  %+v\nwant %+v", got, want)
	}
}

func TestDiscoverMissingDir(t *testing.T) {
	got, err := Discover(filepath.Join(t.TempDir(), "nope"), DiscoverOptions{})
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
}

// TestDiscoveredOpenParams: open parameters default to the original
// layout (a Python class module) only, and discovery.open_params decides
// for every discovered exporter when set.
func TestDiscoveredOpenParams(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cls.py"), []byte("from exporters.exporter import Exporter\nclass C(Exporter):\n    pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tool.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		yml             string
		wantCls, wantSh bool
	}{
		{"", true, false},
		{"discovery: {open_params: true}", true, true},
		{"discovery: {open_params: false}", false, false},
	} {
		cfg, err := config.LoadBytes("t.yml", []byte(c.yml))
		if err != nil {
			t.Fatal(err)
		}
		set, err := Build(cfg, BuildOptions{ExportersDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		cls, _ := set.Get("cls")
		sh, _ := set.Get("tool")
		if cls == nil || sh == nil {
			t.Fatalf("%q: discovered %v", c.yml, set.Names())
		}
		if cls.Params().Open() != c.wantCls || sh.Params().Open() != c.wantSh {
			t.Errorf("%q: open params: class %v, script %v; want %v, %v", c.yml, cls.Params().Open(), sh.Params().Open(), c.wantCls, c.wantSh)
		}
	}
}
