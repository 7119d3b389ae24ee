package run

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/prometheus/common/expfmt"

	"github.com/metricwrap/metricwrap/internal/exporter"
	"github.com/metricwrap/metricwrap/internal/exposition"
)

// BenchmarkCacheMemory caches the answers of 30 distinct targets of a
// cache_ttl exporter whose run writes about 2.1 MB of text (issue 17's
// case: it cost 19 MB of heap per result when the cache kept parsed
// families) and reports the live heap the cache holds per cached MB of
// exposition: heap-MB/cached-MB (1 means the cache costs what it holds),
// and the total (heap-MB for 30).
func BenchmarkCacheMemory(b *testing.B) {
	var text bytes.Buffer
	text.WriteString("# TYPE big_series gauge\n")
	for i := 0; text.Len() < 2100000; i++ {
		fmt.Fprintf(&text, "big_series{instance=\"host-%06d\",job=\"node\",path=\"/var/lib/data/%d\"} %d.5\n", i, i, i)
	}
	raw := text.Bytes()
	f := &fake{name: "big", fn: func(context.Context, *exporter.Request) (*exporter.Result, error) {
		fams, err := exposition.Parse(raw, exposition.Detect(raw))
		return &exporter.Result{Families: fams}, err
	}}
	const targets = 30
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	var perMB, total float64
	for b.Loop() {
		set, _ := exporter.NewSet(&exporter.Entry{Exporter: f, CacheTTL: 1 << 40})
		e := New(Options{})
		e.SetExporters(set, Limits{CacheMaxBytes: 1 << 30})
		entry, _ := set.Get("big")
		before := liveHeap()
		for i := range targets {
			a := e.Do(context.Background(), &Request{Entry: entry, Params: map[string]string{"target": fmt.Sprint(i)}, Format: format})
			if a.Err != nil {
				b.Fatal(a.Err)
			}
		}
		held := liveHeap() - before
		cachedBytes, n := e.cacheStats()
		if n != targets {
			b.Fatalf("%d entries cached, want %d", n, targets)
		}
		perMB = float64(held) / float64(cachedBytes)
		total = float64(held) / (1 << 20)
		runtime.KeepAlive(e)
		e.Close()
	}
	b.ReportMetric(perMB, "heap-MB/cached-MB")
	b.ReportMetric(total, "heap-MB")
	b.ReportMetric(float64(len(raw))/(1<<20), "text-MB/result")
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
