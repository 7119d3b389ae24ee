package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/metricwrap/metricwrap/internal/redact"
)

// Error is one problem in a config file. It names the file, the line and the
// dotted key so an operator can go straight to it.
type Error struct {
	File string
	// Line is 1-based; 0 when the problem has no single line.
	Line int
	// Key is the dotted path of the offending key, such as
	// "exporters.cisco.timeout"; empty for the document itself.
	Key string
	Msg string
}

// Error formats as `FILE:LINE: KEY: MSG`, leaving out the parts not known.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	// A message may quote a value, and the value may hold a secret.
	return redact.Text(b.String())
}

// Errors is every problem found in one config, in file order. Loading goes
// on after the first problem so check-config can list them all at once.
type Errors []*Error

// Error lists the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sort orders the problems by line, then key, then message, so that the
// output does not depend on map iteration order.
func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Msg, b.Msg))
	})
}
