package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/metricwrap/metricwrap/internal/sink"
)

// RejectedError is a partial success: the receiver took the request but
// rejected some of its data points. Resending would duplicate the others, so
// it is permanent; the receiver's message is logged.
type RejectedError struct {
	Rejected int64
	Message  string
}

func (e *RejectedError) Error() string {
	msg := fmt.Sprintf("the receiver rejected %d data points", e.Rejected)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// maxAnswer bounds what is read of an answer.
const maxAnswer = 1 << 20

// send posts one request. The body is an ExportMetricsServiceRequest: the
// request's wire form is MetricsData's (both are `repeated ResourceMetrics
// resource_metrics = 1`), so the metrics/v1 types encode it and the
// collector service package, which would bring gRPC and its gateway into
// the binary, is not needed.
func (s *Sink) send(ctx context.Context, r *request) error {
	raw, err := proto.Marshal(r.data)
	if err != nil {
		return sink.Permanent(fmt.Errorf("otlp sink %s: encode request: %w", s.o.Name, err))
	}
	body := raw
	if s.o.Compression == CompressionGzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(raw) // a bytes.Buffer does not fail
		_ = zw.Close()
		body = buf.Bytes()
	}
	if s.o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.o.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return sink.Permanent(fmt.Errorf("otlp sink %s: %w", s.o.Name, err))
	}
	for k, v := range s.o.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "metricwrap")
	if s.o.Compression == CompressionGzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	res, err := s.client.Do(req)
	if err != nil {
		s.requests.WithLabelValues("0").Inc()
		// The error names the URL, which holds no password; headers are
		// never part of it.
		return fmt.Errorf("otlp sink %s: %w", s.o.Name, err)
	}
	defer res.Body.Close()
	s.requests.WithLabelValues(strconv.Itoa(res.StatusCode)).Inc()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil && res.StatusCode/100 != 2 {
		return fmt.Errorf("otlp sink %s: read response: %w", s.o.Name, err)
	}
	json := strings.Contains(res.Header.Get("Content-Type"), "json")
	if res.StatusCode/100 != 2 {
		// Everything else (429, 502, 503 and 504 retryable, honouring
		// Retry-After; every other status for good) is decided where it
		// is for every sink, by the OTLP rule.
		return fmt.Errorf("otlp sink %s: %w", s.o.Name,
			sink.AnswerOTLP(s.o.Name, res.StatusCode, res.Header, []byte(statusMessage(data, json))))
	}
	s.points.Add(float64(r.points))
	rejected, msg := partialSuccess(data, json)
	switch {
	case rejected > 0:
		s.rejected.Add(float64(rejected))
		s.log.Warn("the receiver rejected data points", "rejected", rejected, "points", r.points, "message", clip(msg, 1000))
		return &RejectedError{Rejected: rejected, Message: clip(msg, 500)}
	case msg != "":
		s.log.Warn("the receiver took every data point, with a warning", "message", clip(msg, 1000))
	}
	return nil
}

// partialSuccess reads an ExportMetricsServiceResponse: partial_success (1)
// holds rejected_data_points (1) and error_message (2). It is read field by
// field for the reason send gives; a body it cannot read counts as full
// success, which is what an empty body means.
func partialSuccess(data []byte, isJSON bool) (rejected int64, msg string) {
	if isJSON {
		var r struct {
			PartialSuccess struct {
				RejectedDataPoints json.Number `json:"rejectedDataPoints"`
				ErrorMessage       string      `json:"errorMessage"`
			} `json:"partialSuccess"`
		}
		if json.Unmarshal(data, &r) != nil {
			return 0, ""
		}
		n, _ := strconv.ParseInt(strings.Trim(string(r.PartialSuccess.RejectedDataPoints), `"`), 10, 64)
		return n, r.PartialSuccess.ErrorMessage
	}
	ps, ok := field(data, 1, protowire.BytesType)
	if !ok {
		return 0, ""
	}
	if v, ok := field(ps, 1, protowire.VarintType); ok {
		n, _ := protowire.ConsumeVarint(v)
		rejected = int64(n)
	}
	if v, ok := field(ps, 2, protowire.BytesType); ok {
		msg = string(v)
	}
	return rejected, msg
}

// statusMessage reads the message (2) of a google.rpc.Status, the body of
// an OTLP refusal; a body that is not one (a proxy's page) is kept as text.
func statusMessage(data []byte, isJSON bool) string {
	if isJSON {
		var st struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &st) == nil && st.Message != "" {
			return st.Message
		}
		return string(data)
	}
	if v, ok := field(data, 2, protowire.BytesType); ok && isText(v) {
		return string(v)
	}
	if isText(data) {
		return string(data)
	}
	return ""
}

// field returns the last occurrence of field num of type typ in a
// protobuf message (for a varint, its encoding); ok is false when there is
// none or the message is malformed.
func field(msg []byte, num protowire.Number, typ protowire.Type) (val []byte, ok bool) {
	for len(msg) > 0 {
		n, t, l := protowire.ConsumeTag(msg)
		if l < 0 {
			return nil, false
		}
		msg = msg[l:]
		var size int
		switch t {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return nil, false
			}
			if n == num && t == typ {
				val, ok = v, true
			}
			size = m
		case protowire.VarintType:
			_, m := protowire.ConsumeVarint(msg)
			if m < 0 {
				return nil, false
			}
			if n == num && t == typ {
				val, ok = msg[:m], true
			}
			size = m
		default:
			size = protowire.ConsumeFieldValue(n, t, msg)
			if size < 0 {
				return nil, false
			}
		}
		msg = msg[size:]
	}
	return val, ok
}

// isText reports whether b looks like a message a person can read.
func isText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\t' && c != '\r' {
			return false
		}
	}
	return len(b) > 0
}

// clip shortens s to at most n bytes without cutting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}
