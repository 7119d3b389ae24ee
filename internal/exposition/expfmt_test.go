package exposition

import (
	"bytes"
	"errors"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// expfmtScenarios returns the input of every scenario in expfmt's own
// text_parse_test.go, read from the module cache of the version in go.mod,
// so that agreeing with expfmt is checked on its own cases without a copy
// of them here.
func expfmtScenarios(t testing.TB) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/prometheus/common").Output()
	if err != nil {
		t.Fatalf("go list github.com/prometheus/common: %v", err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "expfmt", "text_parse_test.go")
	file, err := goparser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatalf("reading expfmt's scenarios: %v", err)
	}
	var ins []string
	ast.Inspect(file, func(n ast.Node) bool {
		kv, ok := n.(*ast.KeyValueExpr)
		if !ok {
			return true
		}
		if id, ok := kv.Key.(*ast.Ident); !ok || id.Name != "in" {
			return true
		}
		if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil {
				ins = append(ins, s)
			}
		}
		return true
	})
	if len(ins) < 60 {
		t.Fatalf("found %d scenarios in %s, expected more than 60", len(ins), path)
	}
	return ins
}

// expfmtVerdict parses data with expfmt's text parser, as Prometheus 3's
// client libraries and the Pushgateway read text.
func expfmtVerdict(data []byte) error {
	p := expfmt.NewTextParser(model.UTF8Validation)
	_, err := p.TextToMetricFamilies(bytes.NewReader(data))
	return err
}

// knownDifference names the documented reason (docs/exposition.md, "Text
// 0.0.4 and expfmt") when our verdict on data differs from expfmt's, or
// "" when the difference is a bug. ours is our error, nil when we accept.
func knownDifference(data []byte, ours error) string {
	if ours == nil {
		// We accept what expfmt refuses.
		if hasTrailingBlank(data) {
			return "trailing blanks"
		}
		return ""
	}
	msg := ours.Error()
	if (strings.Contains(msg, "invalid label name") || strings.Contains(msg, "invalid metric name")) &&
		strings.Contains(msg, `\"`) {
		return "quotes inside a name"
	}
	for _, k := range []struct{ frag, reason string }{
		{"holds the control character", "control characters in label values"},
		{"HELP of", "HELP in UTF-8"},
		{`duplicate label name "quantile"`, "le or quantile twice"},
		{`duplicate label name "le"`, "le or quantile twice"},
		{"the lines of one family must be together", "families in one piece"},
		{"after its samples", "metadata before samples"},
		{"duplicate series", "repeated series"},
		{"has no le=\"+Inf\" bucket", "histograms need +Inf"},
		{"less than the bucket before it", "cumulative buckets"},
		{"is less than its largest bucket", "cumulative buckets"},
		{"not in increasing le order", "cumulative buckets"},
		{"duplicate bucket", "cumulative buckets"},
		{"has negative count", "cumulative buckets"},
		{"is outside 0..1", "quantiles in 0..1"},
		{"duplicate quantile", "quantiles in 0..1"},
		{"must be a whole number", "whole counts"},
		{"has negative value", "counters not negative"},
		{"clashes with", "clashing sample names"},
		{"is not allowed on", "le and quantile where they belong"},
		{"needs a \"quantile\" label", "le and quantile where they belong"},
		{"needs a \"le\" label", "le and quantile where they belong"},
		{"is reserved for the", "le and quantile where they belong"},
		{"mixes samples named", "one counter, one name"},
		{"family \"", "families in one piece"},
		{"has no samples", "families in one piece"},
	} {
		if strings.Contains(msg, k.frag) {
			return k.reason
		}
	}
	return ""
}

func hasTrailingBlank(data []byte) bool {
	for _, ln := range bytes.Split(data, []byte("\n")) {
		if t := bytes.TrimRight(ln, " \t"); len(t) != len(ln) && len(bytes.TrimLeft(t, " \t")) > 0 {
			return true
		}
	}
	return false
}

// TestExpfmtScenarios: on every scenario of expfmt's text parser tests, we
// accept exactly when expfmt does, but for the differences documented in
// docs/exposition.md.
func TestExpfmtScenarios(t *testing.T) {
	for i, in := range expfmtScenarios(t) {
		data := []byte(in)
		theirs := expfmtVerdict(data)
		_, ours := Parse(data, FormatText)
		if (theirs == nil) == (ours == nil) {
			continue
		}
		if reason := knownDifference(data, ours); reason != "" {
			t.Logf("scenario %d differs by design (%s): expfmt %v, ours %v", i, reason, theirs, ours)
			continue
		}
		t.Errorf("scenario %d %q: expfmt error %v, ours %v", i, clip(in), theirs, ours)
	}
}

// FuzzDifferentialExpfmt feeds the same document to expfmt's text parser
// and ours and fails when the verdicts differ for a reason that is not
// documented. The corpus is seeded with expfmt's own scenarios; run with
// go test -run x -fuzz FuzzDifferentialExpfmt ./internal/exposition/
func FuzzDifferentialExpfmt(f *testing.F) {
	for _, in := range expfmtScenarios(f) {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		theirs := expfmtVerdict(data)
		_, ours := Parse(data, FormatText)
		if (theirs == nil) == (ours == nil) {
			return
		}
		var pe *ParseError
		if ours != nil && !errors.As(ours, &pe) {
			t.Fatalf("Parse error is not a *ParseError: %v", ours)
		}
		if knownDifference(data, ours) == "" {
			t.Fatalf("verdicts differ on %q:\nexpfmt: %v\nours:   %v", data, theirs, ours)
		}
	})
}
