package exporter

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Found is an exporter discovered in the exporters directory.
type Found struct {
	Name string
	// Path is the file to run.
	Path string
	// Python is true for a .py file: the python kind, whose runner imports
	// it and runs its Exporter class, or runs it as a plain script when it
	// defines no class (discovery reads no source).
	Python bool
}

// notExporters are files of the original layout that are support code.
var notExporters = map[string]bool{"exporter": true, "__init__": true, "lib": true, "__pycache__": true}

// DiscoverOptions say what discovery may follow.
type DiscoverOptions struct {
	// FollowSymlinks accepts a file whose real path lies outside the
	// exporters directory (config discovery.follow_symlinks).
	FollowSymlinks bool
	// Skipped, when set, hears of each file refused because it leads
	// outside the directory: its path and where it really is.
	Skipped func(path, target string)
}

// Discover lists the exporters in dir: DIR/NAME (an executable, or a .py or
// .sh file) and DIR/NAME/NAME[.ext]. Names that do not match NameRE are
// skipped; a directory that does not exist yields nothing. A symlink whose
// target lies outside dir is skipped unless o.FollowSymlinks: whoever can
// write a link there should not thereby choose any program on the machine.
// Results are sorted by name; when two files give one name, the first in
// that order wins: DIR/NAME/NAME.py, DIR/NAME/NAME, DIR/NAME.py, DIR/NAME.
func Discover(dir string, o DiscoverOptions) ([]Found, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	inside := func(path string) bool {
		if o.FollowSymlinks {
			return true
		}
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return false
		}
		rel, err := filepath.Rel(realDir, target)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
		if o.Skipped != nil {
			o.Skipped(path, target)
		}
		return false
	}
	byName := map[string]Found{}
	for _, de := range entries {
		n := de.Name()
		if strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") {
			continue
		}
		if isDir(dir, de) {
			if f, ok := findInSubdir(filepath.Join(dir, n), n, inside); ok {
				byName[n] = f
			}
			continue
		}
		name, ext := splitExt(n)
		if notExporters[name] || !ValidName(name) {
			continue
		}
		f, ok := inspect(filepath.Join(dir, n), name, ext)
		if !ok || !inside(f.Path) {
			continue
		}
		if prev, dup := byName[name]; dup && rank(prev) <= rank(f) {
			continue
		}
		byName[name] = f
	}
	out := make([]Found, 0, len(byName))
	for _, f := range byName {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func findInSubdir(sub, name string, inside func(string) bool) (Found, bool) {
	if notExporters[name] || !ValidName(name) {
		return Found{}, false
	}
	for _, cand := range []string{name + ".py", name, name + ".sh"} {
		_, ext := splitExt(cand)
		if cand == name {
			ext = ""
		}
		if f, ok := inspect(filepath.Join(sub, cand), name, ext); ok && inside(f.Path) {
			return f, true
		}
	}
	// Any other NAME.ext that is executable (NAME.py and NAME.sh were
	// judged above, and reported if they lead outside).
	matches, _ := filepath.Glob(filepath.Join(sub, name+".*"))
	sort.Strings(matches)
	for _, m := range matches {
		if b := filepath.Base(m); b == name+".py" || b == name+".sh" {
			continue
		}
		if f, ok := inspect(m, name, filepath.Ext(m)); ok && inside(f.Path) {
			return f, true
		}
	}
	return Found{}, false
}

// isDir reports whether de is a directory or a symlink to one: DIR/NAME
// linked to a checkout elsewhere is still DIR/NAME/NAME (its files then
// face the same inside-the-directory rule as any link).
func isDir(dir string, de fs.DirEntry) bool {
	if de.IsDir() {
		return true
	}
	if de.Type()&fs.ModeSymlink == 0 {
		return false
	}
	st, err := os.Stat(filepath.Join(dir, de.Name()))
	return err == nil && st.IsDir()
}

// rank orders candidates for one name: Python files, then shell scripts,
// then other executables.
func rank(f Found) int {
	switch {
	case f.Python:
		return 0
	case strings.HasSuffix(f.Path, ".sh"):
		return 1
	default:
		return 2
	}
}

func splitExt(n string) (string, string) {
	ext := filepath.Ext(n)
	switch ext {
	case ".py", ".sh":
		return strings.TrimSuffix(n, ext), ext
	}
	return n, ""
}

// inspect decides whether path is an exporter: a .py file (a class module or
// a plain script), a .sh file, or any executable regular file.
func inspect(path, name, ext string) (Found, bool) {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return Found{}, false
	}
	switch ext {
	case ".py":
		return Found{Name: name, Path: path, Python: true}, true
	case ".sh":
		return Found{Name: name, Path: path}, true
	case "":
		if st.Mode()&0o111 != 0 {
			return Found{Name: name, Path: path}, true
		}
	default:
		if st.Mode()&0o111 != 0 {
			return Found{Name: name, Path: path}, true
		}
	}
	return Found{}, false
}
