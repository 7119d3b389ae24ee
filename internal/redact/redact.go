// Package redact hides secrets in text that reaches a client, a log or a
// terminal: the values the configuration took from the environment (a
// ${VAR} is how a token gets into a config file) and the credentials URLs
// carry, in their userinfo and in their query. It is the one place that
// decides what a secret looks like; every error body, log line, page and
// check-config message goes through Text (logs through Handler).
package redact

import (
	"context"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Mask replaces a registered secret.
const Mask = "<secret>"

// urlMask replaces a URL's password and each of its query values, as
// url.URL.Redacted does for the password.
const urlMask = "xxxxx"

// MinLen is the shortest value Register remembers: shorter ones are no
// credential, and hiding every "1" or "eu" would garble messages.
const MinLen = 4

var (
	mu       sync.Mutex
	secrets  []string
	replacer atomic.Pointer[strings.Replacer]
)

// Register remembers values to hide from now on. They are never
// forgotten: a reload that drops a secret from the config must not make an
// old message or a stale log line show it.
func Register(values ...string) {
	mu.Lock()
	defer mu.Unlock()
	changed := false
	for _, v := range values {
		if len(v) < MinLen || slices.Contains(secrets, v) {
			continue
		}
		secrets = append(secrets, v)
		changed = true
	}
	if !changed {
		return
	}
	// Longest first, so a secret containing another is hidden whole.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, Mask)
	}
	replacer.Store(strings.NewReplacer(pairs...))
}

// urlRE finds URLs in free text: a scheme, then anything up to a space or
// a quote.
var urlRE = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>\x60]+`)

// Text hides registered secrets in s, and the password and query values of
// every URL in it.
func Text(s string) string {
	if r := replacer.Load(); r != nil {
		s = r.Replace(s)
	}
	if !strings.Contains(s, "://") {
		return s
	}
	return urlRE.ReplaceAllStringFunc(s, func(m string) string {
		// Punctuation ending a sentence or a "scraping URL: error"
		// belongs to the text.
		u := strings.TrimRight(m, ".,:;)!?")
		return URL(u) + m[len(u):]
	})
}

// URL hides the password and every query value of a URL (the scrape
// exporter's ?token=..., a sink's user:pass@), keeping what says where it
// points. Text that does not parse as a URL is returned with registered
// secrets hidden.
func URL(raw string) string {
	if r := replacer.Load(); r != nil {
		raw = r.Replace(raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	changed := false
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), urlMask)
			changed = true
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = urlMask
		} else {
			for k := range q {
				q[k] = []string{urlMask}
			}
			u.RawQuery = q.Encode()
		}
		changed = true
	}
	if !changed {
		return raw
	}
	return u.String()
}

// Error is Text of err's message; "" for nil.
func Error(err error) string {
	if err == nil {
		return ""
	}
	return Text(err.Error())
}

// Handler wraps h so that every record's message and attribute values go
// through Text: no log line shows a secret, whoever logs it.
func Handler(h slog.Handler) slog.Handler { return &handler{h} }

type handler struct{ next slog.Handler }

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Text(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = attr(a)
	}
	return &handler{h.next.WithAttrs(red)}
}

func (h *handler) WithGroup(name string) slog.Handler { return &handler{h.next.WithGroup(name)} }

// attr hides secrets in a's value: strings, errors and anything printed
// with %v (a Stringer); numbers, times and durations pass as they are.
func attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Text(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = attr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, Text(x.Error()))
		case []string:
			red := make([]string, len(x))
			for i, s := range x {
				red[i] = Text(s)
			}
			return slog.Any(a.Key, red)
		default:
			return slog.String(a.Key, Text(v.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
