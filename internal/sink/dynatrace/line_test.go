package dynatrace_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/metricwrap/metricwrap/internal/sink/dynatrace"
	"github.com/metricwrap/metricwrap/internal/sink/dynatrace/dtfake"
)

func TestNormalizeKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http_requests_total", "http_requests_total"},
		{"My.Metric-Name", "My.Metric-Name"},
		{"system.load.average.1m", "system.load.average._1m"},
		{"1st_metric", "_1st_metric"},
		{"-neg.-x", "_-neg._-x"},
		{"a..b...c.", "a.b.c"},
		{"..leading", "leading"},
		{"metric with spaces!!", "metric_with_spaces_"},
		{"temp_°C", "temp_C"},
		{"dt.reserved", "_dt.reserved"},
		{"dt", "_dt"},
		{"dtx.ok", "dtx.ok"},
		{"up", "up_"},
		{"a", "a__"},
		{"", ""},
		{"...", ""},
		{"prefix.9", "prefix._9"},
		{strings.Repeat("a", 300), strings.Repeat("a", 250)},
		{strings.Repeat("a", 249) + ".b", strings.Repeat("a", 249)},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := dynatrace.NormalizeKey(tc.in)
			if got != tc.want {
				t.Errorf("NormalizeKey(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if got != "" {
				if err := dtfake.CheckLine(got+" 1", time.Now()); err != nil {
					t.Errorf("fake rejects key %q: %v", got, err)
				}
			}
		})
	}
}

func TestNormalizeDimKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"job", "job"},
		{"Instance", "instance"},
		{"HTTP_Method", "http_method"},
		{"k8s.pod.name", "k8s.pod.name"},
		{"dt.entity.host", "dt.entity.host"},
		{"0day", "_0day"},
		{"a.1b", "a._1b"},
		{"with space", "with_space"},
		{"ns:sub-key", "ns:sub-key"},
		{":colon", "_:colon"},
		{"ünïcode", "_n_code"},
		{"", ""},
		{strings.Repeat("x", 120), strings.Repeat("x", 100)},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := dynatrace.NormalizeDimKey(tc.in)
			if got != tc.want {
				t.Errorf("NormalizeDimKey(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if got != "" {
				if err := dtfake.CheckLine("key,"+got+"=v 1", time.Now()); err != nil {
					t.Errorf("fake rejects dimension key %q: %v", got, err)
				}
			}
		})
	}
}

func TestDimValue(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "value", "value", true},
		{"escapes", `a,b=c d\e"f`, `a\,b\=c\ d\\e\"f`, true},
		{"control characters removed", "a\tb\nc\x00d\x7f", "abcd", true},
		{"only control characters", "\n\t", "", false},
		{"empty", "", "", false},
		{"invalid utf-8 removed", "a\xffb", "ab", true},
		{"multi-byte kept", "naïve 日本", `naïve\ 日本`, true},
		{"cut at 250 characters", strings.Repeat("é", 300), strings.Repeat("é", 250), true},
		{"cut never splits a character", strings.Repeat("a", 249) + "日本", strings.Repeat("a", 249) + "日", true},
		{"escapes do not count", strings.Repeat(",", 260), strings.Repeat(`\,`, 250), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, ok := dynatrace.AppendDimValue(nil, tc.in)
			if ok != tc.ok || string(b) != tc.want {
				t.Errorf("AppendDimValue(%q) = %q, %v; want %q, %v", tc.in, b, ok, tc.want, tc.ok)
			}
			if !utf8.Valid(b) {
				t.Errorf("result %q is not valid UTF-8", b)
			}
			if ok {
				if err := dtfake.CheckLine("key,d="+string(b)+" 1", time.Now()); err != nil {
					t.Errorf("fake rejects value %q: %v", b, err)
				}
			}
		})
	}
}

func gaugeFamily(name string, v float64, labels ...string) *dto.MetricFamily {
	m := &dto.Metric{Gauge: &dto.Gauge{Value: proto.Float64(v)}}
	for i := 0; i+1 < len(labels); i += 2 {
		m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(labels[i]), Value: proto.String(labels[i+1])})
	}
	return &dto.MetricFamily{Name: proto.String(name), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{m}}
}

func TestSerializeDimensions(t *testing.T) {
	many := []string{}
	for i := range 60 {
		many = append(many, "l"+string(rune('a'+i/26))+string(rune('a'+i%26)), "v")
	}
	tests := []struct {
		name     string
		fam      *dto.MetricFamily
		defaults map[string]string
		want     string
		dimLimit int
	}{
		{
			name: "upper-case label names folded and sorted",
			fam:  gaugeFamily("m_x", 1, "Zone", "eu", "HOST", "h1", "app", "a"),
			want: "m_x,app=a,host=h1,zone=eu gauge,1",
		},
		{
			name: "labels colliding after normalization keep the first",
			fam:  gaugeFamily("m_x", 1, "Host", "first", "host", "second"),
			want: "m_x,host=first gauge,1",
		},
		{
			name:     "metric label wins over default, empty values dropped",
			fam:      gaugeFamily("m_x", 1, "env", "dev", "blank", ""),
			defaults: map[string]string{"env": "prod", "Region": "eu-1", "none": ""},
			want:     "m_x,env=dev,region=eu-1 gauge,1",
		},
		{
			name:     "at most 50 dimensions, labels before defaults",
			fam:      gaugeFamily("m_x", 1, many...),
			defaults: map[string]string{"zz_default": "d"},
			dimLimit: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := dynatrace.Serialize([]*dto.MetricFamily{tc.fam}, dynatrace.Config{DefaultDimensions: tc.defaults}, nil)
			got := lineStrings(l)
			if len(got) != 1 {
				t.Fatalf("lines = %q, want one", got)
			}
			checkAccepted(t, got, time.Now())
			if tc.want != "" && got[0] != tc.want {
				t.Errorf("line = %q, want %q", got[0], tc.want)
			}
			if l.Dropped[dynatrace.DropDimLimit] != tc.dimLimit {
				t.Errorf("dimension-limit drops = %d, want %d", l.Dropped[dynatrace.DropDimLimit], tc.dimLimit)
			}
			if tc.dimLimit > 0 {
				if n := strings.Count(got[0], "="); n != dynatrace.MaxDims {
					t.Errorf("line has %d dimensions, want %d", n, dynatrace.MaxDims)
				}
				if strings.Contains(got[0], "zz_default") {
					t.Errorf("default dimension kept over a metric label: %q", got[0])
				}
			}
		})
	}
}

func TestSerializeLineTooLong(t *testing.T) {
	// 50 dimensions of 250 four-byte characters stay within 50,000
	// characters; the limit counts characters, so this line is sent.
	labels := []string{}
	for i := range 50 {
		labels = append(labels, "k"+strings.Repeat("x", 90)+string(rune('a'+i/26))+string(rune('a'+i%26)), strings.Repeat("😀", 250))
	}
	l := dynatrace.Serialize([]*dto.MetricFamily{gaugeFamily("m_x", 1, labels...)}, dynatrace.Config{}, nil)
	got := lineStrings(l)
	if len(got) != 1 {
		t.Fatalf("got %d lines, dropped %v; want the line sent", len(got), l.Dropped)
	}
	checkAccepted(t, got, time.Now())

	// The longest line the rules allow (250-character key, 50 dimensions
	// of 100-character keys and 250 escaped characters) is about 30,000
	// characters: the 50,000 limit is a guard the rules never reach.
	labels = labels[:0]
	for i := range 50 {
		labels = append(labels, "k"+strings.Repeat("x", 97)+string(rune('a'+i/26))+string(rune('a'+i%26)), strings.Repeat(" ", 250))
	}
	l = dynatrace.Serialize([]*dto.MetricFamily{gaugeFamily(strings.Repeat("m", 300), 1, labels...)}, dynatrace.Config{}, nil)
	got = lineStrings(l)
	if len(got) != 1 || l.Dropped[dynatrace.DropLineTooLong] != 0 {
		t.Fatalf("got %d lines, dropped %v; want the line sent", len(got), l.Dropped)
	}
	checkAccepted(t, got, time.Now())
}
