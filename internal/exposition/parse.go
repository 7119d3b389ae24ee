package exposition

import (
	"hash/maphash"
	"slices"
	"strings"
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

var textKinds = map[string]kind{
	"counter": kindCounter, "gauge": kindGauge, "summary": kindSummary,
	"histogram": kindHistogram, "untyped": kindUntyped,
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
}

// group is what a histogram or summary series has seen so far.
type group struct{ sum, count, inf bool }

type parser struct {
	src   string
	om    bool
	line  int
	fams  []*dto.MetricFamily
	lines [][]int32 // per family, the first line of each metric
	first []int     // per family, its first line
	seen  map[string]int
	cur   *family
	lbls  []label
	seed  maphash.Seed

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
		seed:     maphash.MakeSeed(),
		interned: map[label]*dto.LabelPair{},
		names:    map[string]*string{},
	}
	// src is a view of data, not a copy: every string that ends up in a
	// family is cloned (str, pair), the rest is only looked at.
	if len(data) > 0 {
		p.src = unsafe.String(&data[0], len(data))
	}
	if err := p.run(); err != nil {
		return nil, err
	}
	if is := validate(p.fams, p.seed); is != nil {
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
	return p.closeFamily()
}

// textComment handles "# HELP", "# TYPE" and ignores any other comment.
func (p *parser) textComment(ln string) error {
	s := trimBlank(ln[1:])
	kw, s := cutBlank(s)
	if kw != "HELP" && kw != "TYPE" {
		return nil
	}
	name, s := cutBlank(trimBlank(s))
	s = trimBlank(s)
	if kw == "HELP" {
		return p.help(name, s)
	}
	return p.typ(name, strings.ToLower(strings.TrimRight(s, " \t")), textKinds)
}

// omComment handles the only comments OpenMetrics has.
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
	name, s, _ := strings.Cut(ln[7:], " ")
	switch kw {
	case "HELP":
		return p.help(name, s)
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
	// Leading blanks go, in both formats: text parsers (expfmt's too) drop
	// them, so keeping them would change the HELP on every round trip.
	f.mf.Help = p.str(unescapeHelp(trimBlank(text)))
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
	if !validMetricName(name) {
		return nil, p.errf("%s", badMetricName(name))
	}
	if f := p.cur; f != nil && f.name == name {
		if len(f.mf.Metric) > 0 {
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
		mf:   &dto.MetricFamily{Name: &name, Type: dto.MetricType_UNTYPED.Enum()},
		name: name,
		line: p.line,
	}
	return p.cur, nil
}

// closeFamily finishes the current family: a family with no samples (a
// Python client metric with labels but no children) is dropped.
func (p *parser) closeFamily() error {
	f := p.cur
	p.cur = nil
	if f == nil || len(f.mf.Metric) == 0 {
		return nil
	}
	if f.kind == kindHistogram || f.kind == kindGaugeHistogram {
		for i, m := range f.mf.Metric {
			h := m.Histogram
			if !f.groups[i].inf {
				p.line = int(f.lines[i])
				return p.errf("histogram %s has no le=\"+Inf\" bucket", seriesName(f.mf.GetName(), m))
			}
			slices.SortStableFunc(h.Bucket, func(a, b *dto.Bucket) int {
				return cmpFloat(a.GetUpperBound(), b.GetUpperBound())
			})
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
