package remotewrite

import (
	"testing"
	"time"

	"github.com/golang/snappy"
	dto "github.com/prometheus/client_model/go"
)

// BenchmarkScrape10k is what making a scheduled run a scrape costs: a run
// of 10,000 series encoded and compressed as is ("plain"), and through
// Scrapes first ("scrape": target labels, synthetic series, the staleness
// memory of the previous run). The ratio scrape/plain is the overhead.
func BenchmarkScrape10k(b *testing.B) {
	fams := benchFamilies(10_000)
	encode := func(fs []*dto.MetricFamily) {
		var compressed []byte
		e := &encoder{max: DefaultBatchSize, ts: 1700000000000, flush: func(req []byte, _ int) error {
			compressed = snappy.Encode(compressed[:cap(compressed)], req)
			return nil
		}}
		if err := e.encode(fs); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			encode(fams)
		}
	})
	b.Run("scrape", func(b *testing.B) {
		s := NewScrapes()
		t := Target{Job: "bench", Instance: "host:9761"}
		for b.Loop() {
			encode(s.Families("rw", "bench", t, Run{Families: fams, Duration: time.Second}))
		}
	})
}
