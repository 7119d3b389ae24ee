package server

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/version"

	"github.com/metricwrap/metricwrap/internal/exporter"
)

// exporterInfo is one exporter as the status page and /api/v1/exporters
// show it. Errors of past runs appear only with --web.enable-debug: they may
// quote an exporter's stderr.
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
	RunURL          string      `json:"run_url"`
	DebugURL        string      `json:"debug_url,omitempty"`
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
	Error           string    `json:"error,omitempty"`
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
		if r, ok := s.engine.Last(e.Name()); ok {
			lr := &lastRun{Time: r.At.UTC(), DurationSeconds: r.Duration.Seconds(), Outcome: string(r.Outcome)}
			if s.opts.EnableDebug {
				lr.Error = r.Error
			}
			info.LastRun = lr
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
	if err := enc.Encode(map[string]any{"exporters": s.exporterInfos()}); err != nil {
		s.log.Debug("writing exporters API response failed", "err", err)
	}
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	data := struct {
		Version   string
		Exporters []exporterInfo
		Debug     bool
		Note      string
	}{Version: version.Info(), Exporters: s.exporterInfos(), Debug: s.opts.EnableDebug}
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
</style>
</head>
<body>
<h1>metricwrap</h1>
<p class="muted">{{.Version}} &middot; <a href="/metrics">own metrics</a> &middot; <a href="/api/v1/exporters">exporters API</a> &middot; <a href="/-/healthy">health</a></p>
{{with .Note}}<p id="note">{{.}}</p>{{end}}
<table id="exporters">
<thead><tr><th>Exporter</th><th>Kind</th><th>Parameters</th><th>Last run</th><th>Links</th></tr></thead>
<tbody>
{{range .Exporters}}<tr>
<td><code>{{.Name}}</code></td>
<td>{{.Kind}}</td>
<td>{{range .Params}}<div><code>{{.Name}}</code>{{if .Required}} (required){{end}}{{if .Pattern}} <span class="muted">/{{.Pattern}}/</span>{{end}}{{if .Default}} default <code>{{.Default}}</code>{{end}}</div>{{else}}<span class="muted">none</span>{{end}}</td>
<td>{{with .LastRun}}<span class="{{.Outcome}}">{{.Outcome}}</span> {{ago .Time}}, took {{ms .DurationSeconds}}{{if .Error}}<div class="muted">{{.Error}}</div>{{end}}{{else}}<span class="muted">not run yet</span>{{end}}</td>
<td><a class="run" href="{{.RunURL}}">run</a>{{if .DebugURL}} &middot; <a class="debug" href="{{.DebugURL}}">debug</a>{{end}}</td>
</tr>
{{else}}<tr><td colspan="5">No exporters configured.</td></tr>
{{end}}</tbody>
</table>
</body>
</html>
`))
})
