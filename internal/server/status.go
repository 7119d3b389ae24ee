package server

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/version"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

// exporterInfo is one exporter as the status page and /api/v1/exporters
// show it. Each run shows metricwrap's own reason for a failure; the run's
// full error appears only with --web.enable-debug: it may quote the
// exporter's stderr.
type exporterInfo struct {
	Name            string      `json:"name"`
	Kind            string      `json:"kind"`
	Params          []paramInfo `json:"params"`
	TimeoutSeconds  float64     `json:"timeout_seconds"`
	CacheTTLSeconds float64     `json:"cache_ttl_seconds,omitempty"`
	StaleOnError    bool        `json:"stale_on_error,omitempty"`
	ScheduleSeconds float64     `json:"schedule_seconds,omitempty"`
	Sinks           []string    `json:"sinks,omitempty"`
	LastRun         *lastRun    `json:"last_run"`
	// Runs are the last runs, newest first (the first is LastRun).
	Runs     []lastRun `json:"runs"`
	RunURL   string    `json:"run_url"`
	DebugURL string    `json:"debug_url,omitempty"`
}

type paramInfo struct {
	Name     string `json:"name"`
	Pattern  string `json:"pattern,omitempty"`
	Required bool   `json:"required"`
	Default  string `json:"default,omitempty"`
	PassAs   string `json:"pass_as"`
}

type lastRun struct {
	Time            time.Time `json:"time"`
	DurationSeconds float64   `json:"duration_seconds"`
	Outcome         string    `json:"outcome"`
	// Reason is metricwrap's own account of a failure, safe to show.
	Reason string `json:"reason,omitempty"`
	// Error is the whole error, with the exporter's stderr: debug only.
	Error string `json:"error,omitempty"`
	// Warm says the run was forked from a warm worker (run.Record.Warm).
	Warm bool `json:"warm,omitempty"`
}

func (s *Server) exporterInfos() []exporterInfo {
	var out []exporterInfo
	for _, e := range s.engine.Exporters().Entries() {
		info := exporterInfo{
			Name:            e.Name(),
			Kind:            e.Kind(),
			TimeoutSeconds:  e.Timeout.Seconds(),
			CacheTTLSeconds: e.CacheTTL.Seconds(),
			StaleOnError:    e.StaleOnError,
			ScheduleSeconds: e.Schedule.Seconds(),
			Sinks:           e.Sinks,
			Params:          []paramInfo{},
		}
		example := url.Values{}
		for _, p := range e.Params() {
			pi := paramInfo{Name: p.Name, Required: p.Required, Default: p.Default, PassAs: p.PassAs}
			if pi.PassAs == "" {
				pi.PassAs = exporter.PassAsArg
			}
			switch {
			case p.PatternText != "":
				pi.Pattern = p.PatternText
			case p.Pattern != nil:
				pi.Pattern = unanchored(p.Pattern.String())
			}
			info.Params = append(info.Params, pi)
			if p.Required {
				example.Set(p.Name, "")
			}
		}
		sort.Slice(info.Params, func(i, j int) bool { return info.Params[i].Name < info.Params[j].Name })
		info.RunURL = "/metrics/" + url.PathEscape(e.Name())
		if len(example) > 0 {
			info.RunURL += "?" + example.Encode()
		}
		if s.opts.EnableDebug {
			dq := url.Values{"debug": {"1"}}
			for k := range example {
				dq.Set(k, "")
			}
			info.DebugURL = "/metrics/" + url.PathEscape(e.Name()) + "?" + dq.Encode()
		}
		info.Runs = []lastRun{}
		for _, r := range s.engine.Recent(e.Name()) {
			lr := lastRun{Time: r.At.UTC(), DurationSeconds: r.Duration.Seconds(), Outcome: string(r.Outcome), Reason: r.Reason, Warm: r.Warm}
			if s.opts.EnableDebug && r.Error != r.Reason {
				lr.Error = r.Error
			}
			info.Runs = append(info.Runs, lr)
		}
		if len(info.Runs) > 0 {
			info.LastRun = &info.Runs[0]
		}
		out = append(out, info)
	}
	return out
}

// unanchored shows a pattern anchored as ^(?:P)$ as P, the way it is
// written in a config.
func unanchored(re string) string {
	if strings.HasPrefix(re, "^(?:") && strings.HasSuffix(re, ")$") {
		return re[len("^(?:") : len(re)-len(")$")]
	}
	return re
}

func (s *Server) handleAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	g := gather(s.reg)
	if err := enc.Encode(map[string]any{"exporters": s.exporterInfos(), "schedules": s.scheduleInfos(g), "sinks": s.sinkInfos(g)}); err != nil {
		s.log.Debug("writing exporters API response failed", "err", err)
	}
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	g := gather(s.reg)
	data := struct {
		Version   string
		Exporters []exporterInfo
		Schedules []scheduleInfo
		Sinks     []sinkInfo
		Debug     bool
		Note      string
	}{Version: version.Info(), Exporters: s.exporterInfos(), Schedules: s.scheduleInfos(g), Sinks: s.sinkInfos(g), Debug: s.opts.EnableDebug}
	if s.opts.Note != nil {
		data.Note = s.opts.Note()
	}
	if err := statusPage().Execute(w, data); err != nil {
		s.log.Debug("writing status page failed", "err", err)
	}
}

// statusPage is parsed on first use, not at start-up: run and exec never
// serve it and should not pay for it.
var statusPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("status").Funcs(template.FuncMap{
		"ago": func(t time.Time) string { return time.Since(t).Round(time.Second).String() + " ago" },
		"in": func(t time.Time) string {
			if d := time.Until(t).Round(time.Second); d > 0 {
				return "in " + d.String()
			}
			return "due now"
		},
		"secs":  func(sec float64) string { return (time.Duration(sec) * time.Second).String() },
		"count": func(m map[string]float64, k string) string { return strconv.FormatFloat(m[k], 'f', -1, 64) },
		"num":   func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) },
		"ms": func(sec float64) string {
			d := time.Duration(sec * float64(time.Second))
			if d < time.Millisecond {
				return d.Round(time.Microsecond).String()
			}
			return d.Round(time.Millisecond).String()
		},
	}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>metricwrap</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4em .8em; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f4f4f4; }
code { background: #f4f4f4; padding: 0 .2em; }
.success { color: #1a7f37; } .failure, .timeout, .invalid_output, .output_too_large { color: #cf222e; }
.muted { color: #777; }
.failure, .timeout, .invalid_output, .output_too_large, .no_metrics, .overloaded { color: #cf222e; }
.run + .run { margin-top: .3em; }
td.runs .run:not(:first-child) { font-size: 90%; color: #555; }
.reason { font-size: 90%; }
h2 { font-size: 1.2em; margin-top: 1.5em; }
</style>
</head>
<body>
<h1>metricwrap</h1>
<p class="muted">{{.Version}} &middot; <a href="/metrics">own metrics</a> &middot; <a href="/api/v1/exporters">exporters API</a> &middot; <a href="/-/healthy">health</a></p>
{{with .Note}}<p id="note">{{.}}</p>{{end}}
<h2>Exporters</h2>
<table id="exporters">
<thead><tr><th>Exporter</th><th>Kind</th><th>Parameters</th><th>Last runs</th><th>Links</th></tr></thead>
<tbody>
{{range .Exporters}}<tr>
<td><code>{{.Name}}</code></td>
<td>{{.Kind}}</td>
<td>{{range .Params}}<div><code>{{.Name}}</code>{{if .Required}} (required){{end}}{{if .Pattern}} <span class="muted">/{{.Pattern}}/</span>{{end}}{{if .Default}} default <code>{{.Default}}</code>{{end}}</div>{{else}}<span class="muted">none</span>{{end}}</td>
<td class="runs">{{range .Runs}}<div class="run"><span class="{{.Outcome}}">{{.Outcome}}</span> {{ago .Time}}, took {{ms .DurationSeconds}}{{if .Warm}} (warm){{end}}{{if .Reason}}<div class="reason">{{.Reason}}</div>{{end}}{{if .Error}}<div class="muted error">{{.Error}}</div>{{end}}</div>{{else}}<span class="muted">not run yet</span>{{end}}</td>
<td><a class="run" href="{{.RunURL}}">run</a>{{if .DebugURL}} &middot; <a class="debug" href="{{.DebugURL}}">debug</a>{{end}}</td>
</tr>
{{else}}<tr><td colspan="5">No exporters configured.</td></tr>
{{end}}</tbody>
</table>
<h2>Schedules</h2>
<table id="schedules">
<thead><tr><th>Exporter</th><th>Every</th><th>Sinks</th><th>Next run</th><th>Scheduled runs</th></tr></thead>
<tbody>
{{range .Schedules}}<tr>
<td><code>{{.Exporter}}</code></td>
<td>{{secs .IntervalSeconds}}</td>
<td>{{range $i, $s := .Sinks}}{{if $i}}, {{end}}<code>{{$s}}</code>{{end}}</td>
<td>{{if .Elsewhere}}<span class="muted">runs on {{.Elsewhere}}</span>{{else}}{{with .NextRun}}{{in .}} <span class="muted">({{.Format "15:04:05 MST"}})</span>{{else}}<span class="muted">starting</span>{{end}}{{end}}</td>
<td><span class="success">{{count .Runs "success"}} ok</span>, <span class="failure">{{count .Runs "failure"}} failed</span></td>
</tr>
{{else}}<tr><td colspan="5" class="muted">No exporter has a schedule.</td></tr>
{{end}}</tbody>
</table>
<h2>Sinks</h2>
<table id="sinks">
<thead><tr><th>Sink</th><th>Last delivery</th><th>Batches</th><th>Spool</th></tr></thead>
<tbody>
{{range .Sinks}}<tr>
<td><code>{{.Name}}</code></td>
<td>{{with .LastSuccess}}{{ago .}}{{else}}<span class="muted">none yet</span>{{end}}</td>
<td>{{count .Pushes "success"}} delivered, {{count .Pushes "spooled"}} spooled{{if or (index .Pushes "dropped") (index .Pushes "failure")}}, <span class="failure">{{count .Pushes "dropped"}} refused, {{count .Pushes "failure"}} lost</span>{{end}}</td>
<td>{{if .SpoolDepth}}<span class="failure">{{num .SpoolDepth}} waiting</span>, oldest {{secs .SpoolOldestSeconds}}{{else}}<span class="muted">empty</span>{{end}}</td>
</tr>
{{else}}<tr><td colspan="4" class="muted">No sinks in use.</td></tr>
{{end}}</tbody>
</table>
</body>
</html>
`))
})
