package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/common/version"

	"github.com/metricwrap/metricwrap/internal/exposition"
	"github.com/metricwrap/metricwrap/internal/redact"
)

// scrapeAccept asks for the text formats the exposition parser reads,
// with UTF-8 names allowed as Prometheus 3 asks (the server escapes them
// again for a client that does not allow them).
const scrapeAccept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6," +
	"text/plain;version=0.0.4;escaping=allow-utf-8;q=0.5,*/*;q=0.1"

// scrapeExporter fetches another exporter's endpoint and forwards what it
// returns, validated like any other exporter's output. Checked parameters
// are added to the URL's query, so a multi-target exporter behind it gets
// ?target=... as Prometheus would send it.
type scrapeExporter struct {
	name, job string
	url       *url.URL
	params    Params
	maxBytes  int64
	client    *http.Client
}

// shown is the URL as errors quote it: a failure's body reaches any
// client, so the password and query values (a ?token=...) are hidden.
func (e *scrapeExporter) shown() string { return redact.URL(e.url.String()) }

func (e *scrapeExporter) Name() string   { return e.name }
func (e *scrapeExporter) Kind() string   { return KindScrape }
func (e *scrapeExporter) Job() string    { return e.job }
func (e *scrapeExporter) Params() Params { return e.params }

func (e *scrapeExporter) Run(ctx context.Context, req *Request) (*Result, error) {
	res := &Result{Start: time.Now()}
	defer func() { res.Duration = time.Since(res.Start) }()

	u := *e.url
	if len(req.Params) > 0 {
		q := u.Query()
		for k, v := range req.Params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrFailed, err)
	}
	hreq.Header.Set("Accept", scrapeAccept)
	hreq.Header.Set("User-Agent", version.ComponentUserAgent("metricwrap"))
	if d, ok := ctx.Deadline(); ok {
		hreq.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", fmt.Sprintf("%.3f", time.Until(d).Seconds()))
	}
	resp, err := e.client.Do(hreq)
	if uerr, ok := errors.AsType[*url.Error](err); ok {
		// Its message repeats the URL, query token and all.
		err = uerr.Err
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return res, fmt.Errorf("%w: scraping %s: %w", ErrTimeout, e.shown(), ctx.Err())
		}
		return res, fmt.Errorf("%w: scraping %s: %w", ErrFailed, e.shown(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, e.maxBytes+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return res, fmt.Errorf("%w: reading %s: %w", ErrTimeout, e.shown(), ctx.Err())
		}
		return res, fmt.Errorf("%w: reading %s: %w", ErrFailed, e.shown(), err)
	}
	if int64(len(body)) > e.maxBytes {
		return res, fmt.Errorf("%w: %s answered more than %d bytes", ErrOutputTooLarge, e.shown(), e.maxBytes)
	}
	res.Raw = body
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("%w: %s answered %s", ErrFailed, e.shown(), resp.Status)
	}
	format := exposition.DetectContentType(resp.Header.Get("Content-Type"), body)
	fams, err := exposition.Parse(body, format)
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalidOutput, err)
	}
	res.Families = fams
	return res, requireMetrics(fams, format, e.shown()+" answered no metric")
}
