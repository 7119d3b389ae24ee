// Package dtotlp is a strict fake of Dynatrace's OTLP metrics ingest
// ({tenant}/api/v2/otlp/v1/metrics), written from Dynatrace's published
// OTLP limits and mapping, for tests only. Like Dynatrace it:
//   - takes only POST with Content-Type application/x-protobuf (gzip or
//     not), and a valid "Authorization: Api-Token ..." (else 401);
//   - drops a request over 4 MB uncompressed (413) or with more than 15,000
//     data points (400);
//   - rejects, per data point, what Dynatrace does not ingest: cumulative
//     monotonic sums (UNSUPPORTED_METRIC_TYPE_MONOTONIC_CUMULATIVE_SUM),
//     cumulative histograms, summaries (UNSUPPORTED_METRIC_TYPE_SUMMARY),
//     histograms whose bounds are unsorted or whose bucket counts do not
//     fit them (HISTOGRAM_BUCKET_INVALID), points with more than 50
//     dimensions (DIMENSION_COUNT_EXCEEDED), metric keys outside 2 to 255
//     characters or not starting with a letter, and non-finite values;
//   - answers 200 with partial_success.rejected_data_points when it
//     rejected some points, and 400 with a google.rpc.Status when it
//     rejected every one.
//
// Cumulative non-monotonic sums are taken (Dynatrace maps them to gauges).
// The fake records what it accepted.
package dtotlp

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
)

// Dynatrace's published limits for OTLP metrics.
const (
	MaxRequestBytes  = 4 << 20
	MaxDataPoints    = 15000
	MaxDimensions    = 50
	MinMetricKeyLen  = 2
	MaxMetricKeyLen  = 255
	MaxDimensionKey  = 100
	MaxDimensionVal  = 255
	tokenPrefix      = "Api-Token "
	protobufType     = "application/x-protobuf"
	reasonCumulative = "UNSUPPORTED_METRIC_TYPE_MONOTONIC_CUMULATIVE_SUM"
)

// Point is one accepted data point, flattened the way Dynatrace stores it:
// the metric key, its type and temporality, and the dimensions (data point
// attributes over resource attributes).
type Point struct {
	Metric      string
	Type        string // "gauge", "sum", "histogram"
	Delta       bool
	Monotonic   bool
	Dimensions  map[string]string
	Value       float64 // gauge and sum
	Count       uint64  // histogram
	Sum         float64 // histogram
	Buckets     []uint64
	Bounds      []float64
	Start, Time uint64
}

// Server is the fake; use it as an http.Handler.
type Server struct {
	// Token is the only API token accepted.
	Token string
	// Status, when set, is returned instead of processing (to simulate
	// outages), with RetryAfter as its Retry-After header.
	Status     int
	RetryAfter string

	mu       sync.Mutex
	accepted []Point
	rejected map[string]int
	requests int
}

// New returns a fake accepting token.
func New(token string) *Server { return &Server{Token: token, rejected: map[string]int{}} }

// Accepted returns the points accepted so far.
func (s *Server) Accepted() []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.accepted)
}

// Rejected returns the rejected points by reason.
func (s *Server) Rejected() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.rejected {
		out[k] = v
	}
	return out
}

// Requests counts the requests received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// SetStatus makes the fake answer every request with status until reset
// with 0.
func (s *Server) SetStatus(status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Status, s.RetryAfter = status, retryAfter
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	status, retryAfter := s.Status, s.RetryAfter
	s.mu.Unlock()
	if status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		fail(w, status, "simulated")
		return
	}
	switch {
	case r.Method != http.MethodPost:
		fail(w, http.StatusMethodNotAllowed, "only POST")
		return
	case r.URL.Path != "/api/v2/otlp/v1/metrics":
		fail(w, http.StatusNotFound, "not the OTLP metrics endpoint")
		return
	case !strings.HasPrefix(r.Header.Get("Authorization"), tokenPrefix) ||
		strings.TrimPrefix(r.Header.Get("Authorization"), tokenPrefix) != s.Token:
		fail(w, http.StatusUnauthorized, "missing or invalid Api-Token")
		return
	case r.Header.Get("Content-Type") != protobufType:
		fail(w, http.StatusUnsupportedMediaType, "content type must be "+protobufType)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			fail(w, http.StatusBadRequest, "bad gzip")
			return
		}
		body = zr
	}
	data, err := io.ReadAll(io.LimitReader(body, MaxRequestBytes+1))
	if err != nil {
		fail(w, http.StatusBadRequest, "cannot read body")
		return
	}
	if len(data) > MaxRequestBytes {
		fail(w, http.StatusRequestEntityTooLarge, "request over 4 MB uncompressed")
		return
	}
	var req collectorpb.ExportMetricsServiceRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		fail(w, http.StatusBadRequest, "not an ExportMetricsServiceRequest: "+err.Error())
		return
	}
	total := 0
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				total += countPoints(m)
			}
		}
	}
	if total > MaxDataPoints {
		fail(w, http.StatusBadRequest, fmt.Sprintf("%d data points, over %d", total, MaxDataPoints))
		return
	}
	var (
		ok       []Point
		rejected = map[string]int{}
		reasons  []string
	)
	reject := func(metric, reason string, n int) {
		rejected[reason] += n
		reasons = append(reasons, fmt.Sprintf("Unsupported metric: '%s' - Reason: %s", metric, reason))
	}
	for _, rm := range req.GetResourceMetrics() {
		res := rm.GetResource().GetAttributes()
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				if r := keyProblem(m.GetName()); r != "" {
					reject(m.GetName(), r, countPoints(m))
					continue
				}
				ok = append(ok, s.metric(m, res, reject)...)
			}
		}
	}
	nRejected := 0
	for _, n := range rejected {
		nRejected += n
	}
	s.mu.Lock()
	s.accepted = append(s.accepted, ok...)
	for k, v := range rejected {
		s.rejected[k] += v
	}
	s.mu.Unlock()
	if nRejected > 0 && len(ok) == 0 {
		fail(w, http.StatusBadRequest, "The following issues were encountered while ingesting OTLP metrics:\nErrors:\n"+strings.Join(reasons, "\n"))
		return
	}
	resp := &collectorpb.ExportMetricsServiceResponse{}
	if nRejected > 0 {
		resp.PartialSuccess = &collectorpb.ExportMetricsPartialSuccess{
			RejectedDataPoints: int64(nRejected), ErrorMessage: strings.Join(reasons, "\n"),
		}
	}
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", protobufType)
	_, _ = w.Write(out)
}

func (s *Server) metric(m *metricspb.Metric, res []*commonpb.KeyValue, reject func(string, string, int)) []Point {
	var out []Point
	name := m.GetName()
	dims := func(attrs []*commonpb.KeyValue) (map[string]string, bool) {
		d := map[string]string{}
		for _, kv := range res {
			d[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		for _, kv := range attrs {
			d[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		return d, len(d) <= MaxDimensions
	}
	switch d := m.GetData().(type) {
	case *metricspb.Metric_Gauge:
		for _, p := range d.Gauge.GetDataPoints() {
			dm, fits := dims(p.GetAttributes())
			switch v := value(p); {
			case !fits:
				reject(name, "DIMENSION_COUNT_EXCEEDED", 1)
			case math.IsNaN(v) || math.IsInf(v, 0):
				reject(name, "INVALID_VALUE", 1)
			default:
				out = append(out, Point{Metric: name, Type: "gauge", Dimensions: dm, Value: v, Start: p.GetStartTimeUnixNano(), Time: p.GetTimeUnixNano()})
			}
		}
	case *metricspb.Metric_Sum:
		delta := d.Sum.GetAggregationTemporality() == metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
		if !delta && d.Sum.GetIsMonotonic() {
			reject(name, reasonCumulative, len(d.Sum.GetDataPoints()))
			return nil
		}
		for _, p := range d.Sum.GetDataPoints() {
			dm, fits := dims(p.GetAttributes())
			switch v := value(p); {
			case !fits:
				reject(name, "DIMENSION_COUNT_EXCEEDED", 1)
			case math.IsNaN(v) || math.IsInf(v, 0):
				reject(name, "INVALID_VALUE", 1)
			default:
				out = append(out, Point{Metric: name, Type: "sum", Delta: delta, Monotonic: d.Sum.GetIsMonotonic(),
					Dimensions: dm, Value: v, Start: p.GetStartTimeUnixNano(), Time: p.GetTimeUnixNano()})
			}
		}
	case *metricspb.Metric_Histogram:
		if d.Histogram.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA {
			reject(name, "UNSUPPORTED_METRIC_TYPE_CUMULATIVE_HISTOGRAM", len(d.Histogram.GetDataPoints()))
			return nil
		}
		for _, p := range d.Histogram.GetDataPoints() {
			dm, fits := dims(p.GetAttributes())
			var n uint64
			for _, c := range p.GetBucketCounts() {
				n += c
			}
			switch {
			case !fits:
				reject(name, "DIMENSION_COUNT_EXCEEDED", 1)
			case !slices.IsSorted(p.GetExplicitBounds()) || len(p.GetBucketCounts()) != len(p.GetExplicitBounds())+1 || n != p.GetCount():
				reject(name, "HISTOGRAM_BUCKET_INVALID", 1)
			default:
				out = append(out, Point{Metric: name, Type: "histogram", Delta: true, Dimensions: dm,
					Count: p.GetCount(), Sum: p.GetSum(), Buckets: p.GetBucketCounts(), Bounds: p.GetExplicitBounds(),
					Start: p.GetStartTimeUnixNano(), Time: p.GetTimeUnixNano()})
			}
		}
	case *metricspb.Metric_Summary:
		reject(name, "UNSUPPORTED_METRIC_TYPE_SUMMARY", len(d.Summary.GetDataPoints()))
	default:
		reject(name, "UNSUPPORTED_METRIC_TYPE", countPoints(m))
	}
	return out
}

func value(p *metricspb.NumberDataPoint) float64 {
	if v, ok := p.GetValue().(*metricspb.NumberDataPoint_AsInt); ok {
		return float64(v.AsInt)
	}
	return p.GetAsDouble()
}

// keyProblem checks a metric key against Dynatrace's rules; "" is fine.
func keyProblem(key string) string {
	if n := len([]rune(key)); n < MinMetricKeyLen || n > MaxMetricKeyLen {
		return "METRIC_KEY_LENGTH"
	}
	if r := []rune(key)[0]; !unicode.IsLetter(r) || r > unicode.MaxASCII {
		return "METRIC_KEY_INVALID"
	}
	return ""
}

func countPoints(m *metricspb.Metric) int {
	switch d := m.GetData().(type) {
	case *metricspb.Metric_Gauge:
		return len(d.Gauge.GetDataPoints())
	case *metricspb.Metric_Sum:
		return len(d.Sum.GetDataPoints())
	case *metricspb.Metric_Histogram:
		return len(d.Histogram.GetDataPoints())
	case *metricspb.Metric_ExponentialHistogram:
		return len(d.ExponentialHistogram.GetDataPoints())
	case *metricspb.Metric_Summary:
		return len(d.Summary.GetDataPoints())
	}
	return 0
}

// fail answers with a google.rpc.Status, as OTLP/HTTP servers do.
func fail(w http.ResponseWriter, status int, msg string) {
	out, _ := proto.Marshal(&statuspb.Status{Code: int32(status), Message: msg})
	w.Header().Set("Content-Type", protobufType)
	w.WriteHeader(status)
	_, _ = io.Copy(w, bytes.NewReader(out))
}
