package sink_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/batch"
	"github.com/metricwrap/metricwrap/internal/sink"
)

func TestAnswer(t *testing.T) {
	for _, tc := range []struct {
		status             int
		ok, permanent, bad bool
	}{
		{status: 200, ok: true}, {status: 202, ok: true}, {status: 204, ok: true},
		{status: 301, permanent: true}, {status: 400, permanent: true}, {status: 401, permanent: true},
		{status: 404, permanent: true}, {status: 413, permanent: true},
		{status: 408}, {status: 425}, {status: 429},
		{status: 500, bad: true}, {status: 502}, {status: 503}, {status: 504},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			err := sink.Answer("s", tc.status, nil, []byte("  why\n"))
			if (err == nil) != tc.ok || sink.IsPermanent(err) != tc.permanent || sink.BlamesBatch(err) != tc.bad {
				t.Fatalf("Answer(%d) = %v: permanent %t, blames batch %t; want ok %t, permanent %t, blames %t",
					tc.status, err, sink.IsPermanent(err), sink.BlamesBatch(err), tc.ok, tc.permanent, tc.bad)
			}
			if err != nil && err.Error() != fmt.Sprintf("answered %d %s: why", tc.status, http.StatusText(tc.status)) {
				t.Errorf("message %q", err)
			}
		})
	}
}

func TestAnswerOTLP(t *testing.T) {
	h := http.Header{"Retry-After": []string{"3"}}
	for status, retryable := range map[int]bool{
		400: false, 401: false, 403: false, 404: false, 408: false, 413: false, 500: false, 501: false,
		429: true, 502: true, 503: true, 504: true,
	} {
		err := sink.AnswerOTLP("s", status, h, nil)
		if err == nil || sink.IsPermanent(err) == retryable {
			t.Errorf("AnswerOTLP(%d) = %v, permanent %t; want retryable %t", status, err, sink.IsPermanent(err), retryable)
		}
		if got := sink.RetryAfter(err); got != 3*time.Second {
			t.Errorf("AnswerOTLP(%d): Retry-After %s, want 3s", status, got)
		}
	}
	if err := sink.AnswerOTLP("s", 200, h, nil); err != nil {
		t.Errorf("AnswerOTLP(200) = %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"2":                             2 * time.Second,
		" 120 ":                         2 * time.Minute,
		"0":                             0,
		"-1":                            0,
		"soon":                          0,
		"":                              0,
		"Tue, 01 Dec 2026 12:00:30 GMT": 30 * time.Second,
		"Tue, 01 Dec 2026 11:59:00 GMT": 0,
	} {
		if got := sink.ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestRetryAfterHonouredOnEveryAnswer is issue 11's 429 case: four 429s
// with Retry-After: 1 in a row; every retry waits at least the second
// asked for (before, only every second one did).
func TestRetryAfterHonouredOnEveryAnswer(t *testing.T) {
	gw := newFake("dt")
	var at []time.Time
	h := http.Header{"Retry-After": {"1"}}
	gw.setFail(func(_ *batch.Batch, attempt int) error {
		at = append(at, time.Now())
		if attempt <= 4 {
			return sink.Answer("dt", http.StatusTooManyRequests, h, nil)
		}
		return nil
	})
	f, err := sink.NewFanout([]sink.Sink{gw}, sink.FanoutOptions{
		RetryFor: time.Minute, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := f.Deliver(context.Background(), mkBatch("b1"))[0]
	if r.Outcome != sink.OutcomeSuccess || r.Attempts != 5 {
		t.Fatalf("%+v, want success after 5 attempts", r)
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < time.Second {
			t.Errorf("attempt %d came %s after a 429 that asked for 1s", i+1, gap)
		}
	}
}

// TestRetryAfterBeyondTheDeadlineSpools: a wait the retry budget cannot
// afford ends the attempts at once; the batch waits in the spool.
func TestRetryAfterBeyondTheDeadlineSpools(t *testing.T) {
	gw := newFake("dt")
	h := http.Header{"Retry-After": {"3600"}}
	gw.setFail(func(*batch.Batch, int) error { return sink.Answer("dt", http.StatusTooManyRequests, h, nil) })
	sp := &fakeSpool{}
	f := newFanout(t, sp, gw)
	start := time.Now()
	r := f.Deliver(context.Background(), mkBatch("b1"))[0]
	if r.Outcome != sink.OutcomeSpooled || r.Attempts != 1 || sink.RetryAfter(r.Err) != time.Hour {
		t.Fatalf("%+v, want spooled after 1 attempt with the hour asked for", r)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatal("waited for the Retry-After although the budget could not afford it")
	}
}

// TestEmptyBatchIsNeverSent: no sink gets a batch without a family, the
// Pushgateway PUT of which would erase the group.
func TestEmptyBatchIsNeverSent(t *testing.T) {
	gw := newFake("gw")
	sp := &fakeSpool{}
	f := newFanout(t, sp, gw)
	r := f.Deliver(context.Background(), &batch.Batch{ID: "empty", Job: "j"})[0]
	if r.Outcome != sink.OutcomeDropped || !errors.Is(r.Err, sink.ErrEmpty) {
		t.Fatalf("%+v, want dropped with ErrEmpty", r)
	}
	if _, n := gw.accepted(); n != 0 || len(sp.puts) != 0 {
		t.Fatalf("the empty batch reached the sink (%d attempts) or the spool (%v)", n, sp.puts)
	}
}
