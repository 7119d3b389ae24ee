package python

import (
	"os"
	"path/filepath"
	"strings"
)

// dirStamps records the directories whose entries decide what the worker
// imports: the exporters directory, each exporter's own directory in it,
// and the lib directory beside it. Taken before the worker starts, so a
// file added, removed or renamed meanwhile (editors save by renaming)
// makes the worker stale rather than silently missed.
func dirStamps(exportersDir string) []fileStamp {
	dirs := []string{exportersDir, filepath.Join(filepath.Dir(exportersDir), "lib")}
	if entries, err := os.ReadDir(exportersDir); err == nil {
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && e.Name() != "__pycache__" {
				dirs = append(dirs, filepath.Join(exportersDir, e.Name()))
			}
		}
	}
	out := make([]fileStamp, 0, len(dirs))
	for _, d := range dirs {
		out = append(out, stamp(d))
	}
	return out
}

// stamp is path's modification time and size now; a missing file is
// stamped -1 so its appearance counts as a change.
func stamp(path string) fileStamp {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{Path: path, MtimeNs: -1, Size: -1}
	}
	return fileStamp{Path: path, MtimeNs: st.ModTime().UnixNano(), Size: st.Size()}
}

// stale reports whether a module file the worker imported, or a directory
// it imported from, changed since: its children would run old code.
func (w *worker) stale() bool {
	for _, list := range [][]fileStamp{w.stamps, w.dirs} {
		for _, s := range list {
			if now := stamp(s.Path); now.MtimeNs != s.MtimeNs || now.Size != s.Size {
				return true
			}
		}
	}
	return false
}
