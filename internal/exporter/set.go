package exporter

import (
	"fmt"
	"regexp"
	"sort"
	"time"
)

// NameRE is what an exporter name must match. Nothing else is ever looked
// up, so a request cannot name a path.
var NameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// ValidName reports whether name may name an exporter. ".." matches the
// pattern's characters but is never a name.
func ValidName(name string) bool {
	return NameRE.MatchString(name) && name != "." && name != ".." && len(name) <= 128
}

// Entry is an exporter with the settings the server and scheduler apply
// around its runs.
type Entry struct {
	Exporter
	// Timeout is the exporter's own bound on a run.
	Timeout time.Duration
	// CacheTTL serves a successful result again for this long.
	CacheTTL time.Duration
	// StaleOnError serves the last good result when a run fails.
	StaleOnError bool
	// MaxConcurrency bounds this exporter's runs in progress; 0 means its
	// fair share of the global bound (internal/run).
	MaxConcurrency int
	// OnFailure is OnFailureError (a failed run answers 500 or 504) or
	// OnFailureReport (200, with metricwrap_run_success 0 and a reason).
	OnFailure string
	// Schedule, when non-zero, runs the exporter on this interval in serve
	// and delivers each result to Sinks.
	Schedule       time.Duration
	ScheduleParams map[string]string
	Sinks          []string
	// Warm allows the exporter's runs to be warm (WarmRunner) where the
	// engine runs warm (serve): the exporter's `warm` setting, true unless
	// set false.
	Warm bool
	// Source says where the exporter came from: "config" or the discovered
	// file's path.
	Source string
}

// What a failed run answers over HTTP (the exporter's on_failure).
const (
	OnFailureError  = "error"
	OnFailureReport = "report"
)

// Set is an immutable collection of exporters by name; a config reload
// builds a new one.
type Set struct {
	entries map[string]*Entry
	names   []string
}

// NewSet builds a Set; names must be unique and valid.
func NewSet(entries ...*Entry) (*Set, error) {
	s := &Set{entries: make(map[string]*Entry, len(entries))}
	for _, e := range entries {
		n := e.Name()
		if !ValidName(n) {
			return nil, fmt.Errorf("invalid exporter name %q", n)
		}
		if _, dup := s.entries[n]; dup {
			return nil, fmt.Errorf("exporter %q defined twice", n)
		}
		s.entries[n] = e
		s.names = append(s.names, n)
	}
	sort.Strings(s.names)
	return s, nil
}

// Get returns the exporter called name. Invalid names are never found.
func (s *Set) Get(name string) (*Entry, bool) {
	if s == nil || !ValidName(name) {
		return nil, false
	}
	e, ok := s.entries[name]
	return e, ok
}

// Entries returns every exporter, sorted by name.
func (s *Set) Entries() []*Entry {
	if s == nil {
		return nil
	}
	out := make([]*Entry, len(s.names))
	for i, n := range s.names {
		out[i] = s.entries[n]
	}
	return out
}

// Names returns the exporter names, sorted.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s.names...)
}
