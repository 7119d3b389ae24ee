package server

import (
	"math"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// What the status page shows of schedules and sinks is read from the
// server's own registry, where the scheduler, the sinks and the spool
// already report it: the page shows what Prometheus sees, and nothing
// keeps a second copy of that state.

// sinkInfo is one sink on the status page and in /api/v1/status.
type sinkInfo struct {
	Name string `json:"name"`
	// LastSuccess is when the sink last accepted a batch; nil if never.
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// Pushes counts batches by result (success, spooled, dropped, failure).
	Pushes map[string]float64 `json:"pushes"`
	// SpoolDepth and SpoolOldestSeconds describe the backlog waiting in the
	// spool; SpoolBytes its size on disk.
	SpoolDepth         float64 `json:"spool_depth"`
	SpoolBytes         float64 `json:"spool_bytes"`
	SpoolOldestSeconds float64 `json:"spool_oldest_seconds"`
}

// scheduleInfo is one scheduled exporter.
type scheduleInfo struct {
	Exporter        string     `json:"exporter"`
	IntervalSeconds float64    `json:"interval_seconds"`
	Sinks           []string   `json:"sinks"`
	NextRun         *time.Time `json:"next_run,omitempty"`
	// Elsewhere names the replica that runs it when this one does not
	// (--cluster.shards, Options.Elsewhere).
	Elsewhere string `json:"elsewhere,omitempty"`
	// Runs counts scheduled runs by outcome.
	Runs map[string]float64 `json:"runs"`
}

// gathered holds the families of the registry by name.
type gathered map[string]*dto.MetricFamily

func gather(reg prometheus.Gatherer) gathered {
	fams, _ := reg.Gather() // a collector's error leaves out only its own families
	out := gathered{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// each calls fn with the value of every series of family name and the
// value of its label key.
func (g gathered) each(name, key string, fn func(label string, m *dto.Metric, v float64)) {
	f, ok := g[name]
	if !ok {
		return
	}
	for _, m := range f.Metric {
		var label string
		for _, l := range m.Label {
			if l.GetName() == key {
				label = l.GetValue()
			}
		}
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Untyped != nil:
			v = m.Untyped.GetValue()
		}
		fn(label, m, v)
	}
}

func labelOf(m *dto.Metric, key string) string {
	for _, l := range m.Label {
		if l.GetName() == key {
			return l.GetValue()
		}
	}
	return ""
}

// unixTime turns a timestamp gauge into a time; nil for 0 or nonsense.
func unixTime(sec float64) *time.Time {
	if sec <= 0 || math.IsNaN(sec) || math.IsInf(sec, 0) {
		return nil
	}
	t := time.Unix(0, int64(sec*1e9)).UTC()
	return &t
}

// sinkInfos lists the sinks the exporters deliver to and those the
// registry knows of, with their last delivery and spool backlog.
func (s *Server) sinkInfos(g gathered) []sinkInfo {
	byName := map[string]*sinkInfo{}
	get := func(name string) *sinkInfo {
		if name == "" {
			return nil
		}
		si, ok := byName[name]
		if !ok {
			si = &sinkInfo{Name: name, Pushes: map[string]float64{}}
			byName[name] = si
		}
		return si
	}
	for _, e := range s.engine.Exporters().Entries() {
		for _, n := range e.Sinks {
			get(n)
		}
	}
	g.each("metricwrap_sink_last_success_timestamp_seconds", "sink", func(n string, _ *dto.Metric, v float64) {
		if si := get(n); si != nil {
			si.LastSuccess = unixTime(v)
		}
	})
	g.each("metricwrap_sink_push_total", "sink", func(n string, m *dto.Metric, v float64) {
		if si := get(n); si != nil {
			si.Pushes[labelOf(m, "result")] += v
		}
	})
	g.each("metricwrap_spool_depth", "sink", func(n string, _ *dto.Metric, v float64) {
		if si := get(n); si != nil {
			si.SpoolDepth += v
		}
	})
	g.each("metricwrap_spool_bytes", "sink", func(n string, _ *dto.Metric, v float64) {
		if si := get(n); si != nil {
			si.SpoolBytes += v
		}
	})
	g.each("metricwrap_spool_oldest_age_seconds", "sink", func(n string, _ *dto.Metric, v float64) {
		if si := get(n); si != nil && v > si.SpoolOldestSeconds {
			si.SpoolOldestSeconds = v
		}
	})
	out := make([]sinkInfo, 0, len(byName))
	for _, si := range byName {
		out = append(out, *si)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// scheduleInfos lists the scheduled exporters with their next run, as the
// scheduler reports it in metricwrap_schedule_next_run_timestamp_seconds.
func (s *Server) scheduleInfos(g gathered) []scheduleInfo {
	next := map[string]*time.Time{}
	g.each("metricwrap_schedule_next_run_timestamp_seconds", "exporter", func(n string, _ *dto.Metric, v float64) {
		next[n] = unixTime(v)
	})
	runs := map[string]map[string]float64{}
	g.each("metricwrap_scheduled_runs_total", "exporter", func(n string, m *dto.Metric, v float64) {
		if runs[n] == nil {
			runs[n] = map[string]float64{}
		}
		runs[n][labelOf(m, "outcome")] += v
	})
	var out []scheduleInfo
	for _, e := range s.engine.Exporters().Entries() {
		if e.Schedule <= 0 {
			continue
		}
		si := scheduleInfo{Exporter: e.Name(), IntervalSeconds: e.Schedule.Seconds(), Sinks: e.Sinks, NextRun: next[e.Name()], Runs: runs[e.Name()]}
		if s.opts.Elsewhere != nil {
			si.Elsewhere = s.opts.Elsewhere(e)
		}
		if si.Runs == nil {
			si.Runs = map[string]float64{}
		}
		if si.Sinks == nil {
			si.Sinks = []string{}
		}
		out = append(out, si)
	}
	return out
}
