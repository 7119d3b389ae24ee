package remotewrite

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// scrapeLines encodes what Scrapes gives for one run, as series strings
// (stale markers as "STALE"), sorted.
func scrapeLines(t *testing.T, s *Scrapes, source string, tg Target, r Run) []string {
	t.Helper()
	var out []string
	for _, req := range encodeAll(t, s.Families("rw", source, tg, r), 1000, 7) {
		for _, ws := range req {
			line := ws.String()
			if IsStaleNaN(ws.value) {
				line = line[:strings.LastIndexByte(line[:strings.LastIndexByte(line, ' ')], ' ')] + " STALE"
			} else if math.IsNaN(ws.value) {
				t.Errorf("%s: a NaN that is not the staleness marker", line)
			}
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return out
}

func TestScrapesLabelsUpAndStaleness(t *testing.T) {
	s := NewScrapes()
	tg := Target{Job: "node", Instance: "h:9761"}
	first := scrapeLines(t, s, "a", tg, Run{Duration: 250 * time.Millisecond, Families: families(t, `# TYPE x gauge
x{job="mine",exported_job="taken"} 1
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="+Inf"} 2
h_sum 3
h_count 2
`)})
	want := []string{
		`h_bucket{instance="h:9761",job="node",le="+Inf"} 2 @7`,
		`h_bucket{instance="h:9761",job="node",le="1"} 1 @7`,
		`h_count{instance="h:9761",job="node"} 2 @7`,
		`h_sum{instance="h:9761",job="node"} 3 @7`,
		`scrape_duration_seconds{instance="h:9761",job="node"} 0.25 @7`,
		`scrape_samples_scraped{instance="h:9761",job="node"} 5 @7`,
		`up{instance="h:9761",job="node"} 1 @7`,
		`x{exported_exported_job="mine",exported_job="taken",instance="h:9761",job="node"} 1 @7`,
	}
	if !slices.Equal(first, want) {
		t.Errorf("first run:\n%s\nwant:\n%s", strings.Join(first, "\n"), strings.Join(want, "\n"))
	}

	second := scrapeLines(t, s, "a", tg, Run{Failed: true})
	for _, w := range []string{
		`up{instance="h:9761",job="node"} 0 @7`,
		`h_bucket{instance="h:9761",job="node",le="+Inf"} STALE`,
		`x{exported_exported_job="mine",exported_job="taken",instance="h:9761",job="node"} STALE`,
	} {
		if !slices.Contains(second, w) {
			t.Errorf("failed run lacks %s:\n%s", w, strings.Join(second, "\n"))
		}
	}
	if third := scrapeLines(t, s, "a", tg, Run{Failed: true}); slices.ContainsFunc(third, func(l string) bool { return strings.HasSuffix(l, "STALE") }) {
		t.Errorf("a series is marked stale twice:\n%s", strings.Join(third, "\n"))
	}

	honored := scrapeLines(t, NewScrapes(), "b", Target{Job: "node", Instance: "h:1", HonorLabels: true},
		Run{Families: families(t, "# TYPE x gauge\nx{job=\"mine\",instance=\"\"} 1\n")})
	if !slices.Contains(honored, `x{instance="h:1",job="mine"} 1 @7`) {
		t.Errorf("honor_labels: %v", honored)
	}

	timed := NewScrapes()
	scrapeLines(t, timed, "t", tg, Run{Families: families(t, "# TYPE x gauge\nx 1 1600000000000\n")})
	if next := scrapeLines(t, timed, "t", tg, Run{}); slices.ContainsFunc(next, func(l string) bool { return strings.HasPrefix(l, "x{") }) {
		t.Errorf("a sample with its own timestamp got a staleness marker:\n%s", strings.Join(next, "\n"))
	}

	retired := s.Retire(func(_, source string) bool { return source != "a" })
	if n := len(retired["rw"]); n != 3 { // up, scrape_duration_seconds, scrape_samples_scraped
		t.Errorf("retiring source a ends %d families, want the 3 synthetic ones", n)
	}
	if again := s.Retire(func(string, string) bool { return false }); len(again) != 0 {
		t.Errorf("a retired source is retired again: %v", again)
	}
}

func TestSourceIncludesParams(t *testing.T) {
	if Source("e", map[string]string{"a": "1", "b": "2"}) != Source("e", map[string]string{"b": "2", "a": "1"}) ||
		Source("e", map[string]string{"a": "1"}) == Source("e", map[string]string{"a": "2"}) {
		t.Error("Source is not the exporter plus its sorted params")
	}
}
