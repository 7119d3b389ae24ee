package exposition

import (
	"hash/maphash"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	dto "github.com/prometheus/client_model/go"
)

// kind is a family's type as declared in the document; several kinds map
// to one dto type.
type kind uint8

const (
	kindUntyped kind = iota
	kindCounter
	kindGauge
	kindSummary
	kindHistogram
	kindGaugeHistogram
	kindInfo
	kindStateset
)

// textKinds are the types expfmt reads in text, in any case: the four of
// the format, untyped, and the gauge histogram that OpenMetrics added.
var textKinds = map[string]kind{
	"counter": kindCounter, "gauge": kindGauge, "summary": kindSummary,
	"histogram": kindHistogram, "untyped": kindUntyped, "gaugehistogram": kindGaugeHistogram,
}

var omKinds = map[string]kind{
	"counter": kindCounter, "gauge": kindGauge, "summary": kindSummary,
	"histogram": kindHistogram, "gaugehistogram": kindGaugeHistogram,
	"info": kindInfo, "stateset": kindStateset, "unknown": kindUntyped,
}

var dtoTypes = [...]dto.MetricType{
	kindUntyped:        dto.MetricType_UNTYPED,
	kindCounter:        dto.MetricType_COUNTER,
	kindGauge:          dto.MetricType_GAUGE,
	kindSummary:        dto.MetricType_SUMMARY,
	kindHistogram:      dto.MetricType_HISTOGRAM,
	kindGaugeHistogram: dto.MetricType_GAUGE_HISTOGRAM,
	kindInfo:           dto.MetricType_GAUGE,
	kindStateset:       dto.MetricType_GAUGE,
}

var kindNames = [...]string{"untyped", "counter", "gauge", "summary", "histogram", "gaugehistogram", "info", "stateset"}

// role is what a sample line contributes to its family.
type role uint8

const (
	roleValue role = iota // the value of a counter, gauge, untyped, info or stateset, or a summary quantile
	roleBucket
	roleSum
	roleCount
	roleCreated
)

// label is one name="value" pair of the sample being parsed.
type label struct{ name, value string }

// family is the family being parsed.
type family struct {
	mf     *dto.MetricFamily
	name   string // as in its HELP/TYPE lines, or of its first sample
	kind   kind
	line   int
	typed  bool
	helped bool
	unit   bool
	total  int8 // counters: 1 when samples are named name, 2 when name_total
	lines  []int32
	groups []group
	index  map[uint64]int32

	spells []spell
	// pendingCreated is a counter's _created seen before its _total.
	pendingCreated *pendingCreated
	unitName       string // OpenMetrics: the UNIT, checked when the family ends
	samples        int    // sample lines read, kept or not

	// OpenMetrics grouping: the group (labels without le, quantile or the
	// stateset label) and timestamp of the previous sample, the groups seen,
	// and the series seen since the group began at this timestamp.
	prev       uint64
	prevTs     float64
	prevHasTs  bool
	hasPrev    bool
	seenGroups map[uint64]struct{}
	run        []uint64
	// runMetric is the metric of a histogram or summary that the samples
	// of the current group and timestamp go to, -1 before the first.
	runMetric int32
}

// group is what a histogram or summary series has seen so far; the
// fields past inf serve the OpenMetrics rules.
type group struct {
	sum, count, inf          bool
	gsum, negBucket, negGsum bool
	buckets                  int
	lastLe, lastV            float64
	countV                   float64
}

type parser struct {
	src   string
	om    bool
	line  int
	fams  []*dto.MetricFamily
	lines [][]int32 // per family, the first line of each metric
	first []int     // per family, its first line
	seen  map[string]int
	// claimed holds, in OpenMetrics, every sample name a family could use
	// (a counter "x" claims x, x_total and x_created), with its line.
	claimed map[string]int
	// grouped holds the text summaries and histograms seen, with their line.
	grouped map[string]int
	cur     *family
	lbls    []label
	keep    bool // record spellings (see spellField)
	scratch []byte
	seed    maphash.Seed

	// interned holds one LabelPair per distinct name and value: exporters
	// repeat the same pairs over and over, and a pair costs more than the
	// bytes that spell it.
	interned map[label]*dto.LabelPair
	names    map[string]*string

	metrics  slab[dto.Metric]
	ptrs     slab[*dto.LabelPair]
	strs     slab[string]
	floats   slab[float64]
	gauges   slab[dto.Gauge]
	counters slab[dto.Counter]
	untypeds slab[dto.Untyped]
}

// Parse reads a whole document and validates it. Families come back in
// document order with label pairs sorted by name. Errors are *ParseError
// carrying the line to fix; nothing is returned unless everything is valid.
//
// The families keep no reference to data. Metrics of one Parse share
// their *dto.LabelPair values (one per distinct pair, which keeps a large
// document's families small): treat pairs as read-only, replace rather
// than write through them (AddLabels does so).
func Parse(data []byte, f Format) ([]*dto.MetricFamily, error) {
	p := &parser{
		om:       f == FormatOpenMetrics,
		seen:     map[string]int{},
		claimed:  map[string]int{},
		grouped:  map[string]int{},
		keep:     true,
		seed:     maphash.MakeSeed(),
		interned: map[label]*dto.LabelPair{},
		names:    map[string]*string{},
	}
	// src is a view of data, not a copy: every string that ends up in a
	// family is cloned (str, pair), the rest is only looked at.
	if len(data) > 0 {
		p.src = unsafe.String(&data[0], len(data))
	}
	if len(data) == 0 && p.om {
		return nil, &ParseError{Msg: "empty document: an exporter writes at least one line; one with no metrics " +
			"writes \"# EOF\" (OpenMetrics) or a comment (text)"}
	}
	if err := p.run(); err != nil {
		return nil, err
	}
	// OpenMetrics rules on repeated series (consecutive, timestamps going
	// forward, exact repeats dropped) are checked while parsing, and are
	// stricter than the duplicate check validate would make.
	if is := validate(p.fams, p.seed, !p.om, true); is != nil {
		line := 0
		switch {
		case is.metric >= 0:
			line = int(p.lines[is.family][is.metric])
		case is.family >= 0:
			line = p.first[is.family]
		}
		return nil, &ParseError{Line: line, Msg: is.msg}
	}
	return p.fams, nil
}

func (p *parser) errf(format string, args ...any) error {
	return &ParseError{Line: p.line, Msg: sprintf(format, args...)}
}

func (p *parser) run() error {
	rest := p.src
	eof := false
	for len(rest) > 0 {
		p.line++
		ln := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			ln, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if eof {
			return p.errf("nothing may follow # EOF")
		}
		var err error
		if p.om {
			switch {
			case ln == "":
				return p.errf("empty line (OpenMetrics allows none)")
			case ln == "# EOF":
				eof = true
				continue
			case ln[0] == '#':
				err = p.omComment(ln)
			default:
				err = p.sample(ln)
			}
		} else {
			ln = strings.TrimLeft(ln, " \t")
			switch {
			case ln == "":
				continue
			case ln[0] == '#':
				err = p.textComment(ln)
			default:
				err = p.sample(ln)
			}
		}
		if err != nil {
			return err
		}
	}
	if p.om && !eof {
		return p.errf("missing # EOF at the end of the OpenMetrics document")
	}
	if !p.om && len(p.src) > 0 && p.src[len(p.src)-1] != '\n' && trimBlank(lastLine(p.src)) != "" {
		return p.errf("the last line does not end with a newline (the text format ends every line with one)")
	}
	return p.closeFamily()
}

// textComment handles "# HELP" and "# TYPE" as expfmt reads them and
// ignores any other comment, as well as a HELP or TYPE line that stops
// after the name.
func (p *parser) textComment(ln string) error {
	s := trimBlank(ln[1:])
	kw, s := cutBlank(s)
	if kw != "HELP" && kw != "TYPE" {
		return nil
	}
	s = trimBlank(s)
	if s == "" {
		return nil
	}
	var name string
	if s[0] == '"' {
		// Checked only when something follows: expfmt ignores the line
		// otherwise.
		var err error
		if name, s, err = unquote(s[1:], true); err != nil {
			return p.errf("quoted metric name: %v", err)
		}
		if t := trimBlank(s); t != "" && (name == "" || !utf8.ValidString(name)) {
			return p.errf("quoted metric name %q is empty or not valid UTF-8", clip(name))
		}
	} else {
		i := scanMetricName(s)
		name, s = s[:i], s[i:]
	}
	if s != "" && s[0] != ' ' && s[0] != '\t' {
		end, _ := cutBlank(s)
		return p.errf("%s", badMetricName(name+end))
	}
	s = trimBlank(s)
	if s == "" {
		return nil
	}
	if kw == "HELP" {
		text, err := unescapeHelp(s, true)
		if err != nil {
			return p.errf("HELP of %s: %v", clip(name), err)
		}
		return p.help(name, text)
	}
	// expfmt drops every backslash of a TYPE line's type, and ignores case.
	typ := strings.ToLower(strings.ReplaceAll(strings.TrimRight(s, " \t"), `\`, ""))
	if typ == "gauge_histogram" {
		typ = "gaugehistogram"
	}
	return p.typ(name, typ, textKinds)
}

// omComment handles the only comments OpenMetrics has: "# HELP name text",
// "# TYPE name type" and "# UNIT name unit", each with exactly one space
// between the parts (text and unit may be empty, the space may not).
func (p *parser) omComment(ln string) error {
	kw := ""
	for _, k := range [...]string{"# HELP ", "# TYPE ", "# UNIT "} {
		if strings.HasPrefix(ln, k) {
			kw = k[2:6]
		}
	}
	if kw == "" {
		return p.errf("unexpected comment %q (OpenMetrics allows only # HELP, # TYPE, # UNIT and # EOF)", clip(ln))
	}
	name, s, ok := strings.Cut(ln[7:], " ")
	if strings.HasPrefix(ln[7:], `"`) {
		// A quoted UTF-8 name, as Prometheus 3 and client_golang write
		// OpenMetrics when the scraper allows UTF-8.
		var err error
		if name, s, err = p.quoted(ln[8:], "metric name"); err != nil {
			return err
		}
		s, ok = strings.CutPrefix(s, " ")
	} else if name != "" && !legacyMetricName(name) {
		return p.errf("%s", badMetricName(name))
	}
	if !ok {
		return p.errf("# %s %s needs a space after the name (and then the %s)", kw, clip(name), strings.ToLower(kw))
	}
	switch kw {
	case "HELP":
		// Leading blanks go, as in text (expfmt drops them): kept, they
		// would not survive a conversion to text.
		text, _ := unescapeHelp(trimBlank(s), false)
		return p.help(name, text)
	case "TYPE":
		return p.typ(name, s, omKinds)
	}
	f, err := p.meta(name, "UNIT")
	if err != nil {
		return err
	}
	if f.unit {
		return p.errf("second UNIT line for %q", name)
	}
	f.unit = true
	f.unitName = s
	if s != "" {
		f.mf.Unit = p.str(s)
	}
	return nil
}

func (p *parser) help(name, text string) error {
	f, err := p.meta(name, "HELP")
	if err != nil {
		return err
	}
	if f.helped {
		return p.errf("second HELP line for %q", name)
	}
	f.helped = true
	f.mf.Help = p.str(text)
	return nil
}

func (p *parser) typ(name, typ string, kinds map[string]kind) error {
	f, err := p.meta(name, "TYPE")
	if err != nil {
		return err
	}
	if f.typed {
		return p.errf("second TYPE line for %q", name)
	}
	k, ok := kinds[typ]
	if !ok {
		return p.errf("unknown type %q for %q in the %s format", typ, name, formatName(p.om))
	}
	f.typed, f.kind = true, k
	if !p.om && (k == kindSummary || k == kindHistogram || k == kindGaugeHistogram) {
		p.grouped[name] = p.line
	}
	f.mf.Type = dtoTypes[k].Enum()
	if k == kindInfo {
		f.mf.Name = p.str(name + "_info")
	}
	return nil
}

// meta returns the family a HELP, TYPE or UNIT line describes, starting it
// when the line is its first.
func (p *parser) meta(name, kw string) (*family, error) {
	if name == "" {
		return nil, p.errf("%s line without a metric name", kw)
	}
	if !legacyMetricName(name) && !validName(name) {
		return nil, p.errf("%s", badMetricName(name))
	}
	if f := p.cur; f != nil && f.name == name {
		if f.samples > 0 {
			return nil, p.errf("%s line for %q after its samples", kw, name)
		}
		return f, nil
	}
	return p.begin(name)
}

// begin closes the current family and starts the one called name.
func (p *parser) begin(name string) (*family, error) {
	if err := p.closeFamily(); err != nil {
		return nil, err
	}
	if l, ok := p.seen[name]; ok {
		return nil, p.errf("%q already appeared at line %d; the lines of one family must be together", name, l)
	}
	name = strings.Clone(name)
	p.seen[name] = p.line
	p.cur = &family{
		mf:        &dto.MetricFamily{Name: &name, Type: dto.MetricType_UNTYPED.Enum()},
		name:      name,
		line:      p.line,
		runMetric: -1,
	}
	return p.cur, nil
}

// closeFamily finishes the current family: a family with no samples (a
// Python client metric with labels but no children) is dropped.
func (p *parser) closeFamily() error {
	f := p.cur
	p.cur = nil
	if f == nil {
		return nil
	}
	if p.om {
		if err := p.omClose(f); err != nil {
			return err
		}
	}
	if len(f.mf.Metric) == 0 {
		return nil
	}
	if f.kind == kindHistogram || f.kind == kindGaugeHistogram {
		for i, m := range f.mf.Metric {
			h := m.Histogram
			if !f.groups[i].inf {
				p.line = int(f.lines[i])
				return p.errf("histogram %s has no le=\"+Inf\" bucket", seriesName(f.mf.GetName(), m))
			}
			if p.om {
				if msg := omHistogram(&f.groups[i], f.kind); msg != "" {
					p.line = int(f.lines[i])
					return p.errf("histogram %s: %s", seriesName(f.mf.GetName(), m), msg)
				}
			}
			p.sortBuckets(f, i, h)
			if !f.groups[i].count {
				inf := h.Bucket[len(h.Bucket)-1]
				h.SampleCount, h.SampleCountFloat = inf.CumulativeCount, inf.CumulativeCountFloat
			}
		}
	}
	if n := f.mf.GetName(); n != f.name {
		if l, ok := p.seen[n]; ok && l != f.line {
			p.line = f.line
			return p.errf("%q already appeared at line %d; the lines of one family must be together", n, l)
		}
		p.seen[n] = f.line
	}
	p.storeSpells(f)
	p.fams = append(p.fams, f.mf)
	p.lines = append(p.lines, f.lines)
	p.first = append(p.first, f.line)
	return nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// lastLine is the last line of s, without its newline.
func lastLine(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// sortBuckets puts the buckets of metric i in le order (text allows any),
// moving their recorded spellings along.
func (p *parser) sortBuckets(f *family, i int, h *dto.Histogram) {
	byLe := func(a, b *dto.Bucket) int { return cmpFloat(a.GetUpperBound(), b.GetUpperBound()) }
	if slices.IsSortedFunc(h.Bucket, byLe) {
		return
	}
	order := make([]int, len(h.Bucket)) // order[new] = old
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return byLe(h.Bucket[a], h.Bucket[b]) })
	sorted := make([]*dto.Bucket, len(h.Bucket))
	moved := make([]int32, len(h.Bucket)) // moved[old] = new
	for k, old := range order {
		sorted[k] = h.Bucket[old]
		moved[old] = int32(k)
	}
	copy(h.Bucket, sorted)
	for j := range f.spells {
		s := &f.spells[j]
		if int(s.metric) == i && s.slot >= slotFirst {
			k := (s.slot - slotFirst) / 2
			s.slot += 2 * (moved[k] - k)
		}
	}
}
