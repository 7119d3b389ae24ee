package s3

import (
	"context"
	"testing"
	"time"

	"github.com/metricwrap/metricwrap/internal/sink"
	"github.com/metricwrap/metricwrap/internal/spool"
)

// TestSpooledBatchNeverGoesToAnotherBucket is issue 11's first case for
// S3: a batch spooled for bucket A is not written to bucket B by a later
// run of the same sink name whose bucket changed; a run for A delivers it.
func TestSpooledBatchNeverGoesToAnotherBucket(t *testing.T) {
	m := startMinio(t)
	bucketA, bucketB := m.bucket(t, "tenant-a"), m.bucket(t, "tenant-b")
	dir := t.TempDir()
	deliver := func(bucket, id string, down bool) sink.Result {
		t.Helper()
		s, err := New(Options{Name: "s3", Endpoint: m.URL, Bucket: bucket, AccessKeyID: rootUser,
			SecretAccessKey: rootPassword, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		sp, err := spool.Open(spool.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		f, err := sink.NewFanout([]sink.Sink{s}, sink.FanoutOptions{Spool: sp})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		if down {
			cancel() // unreachable: nothing is tried, the batch is spooled
		}
		defer cancel()
		return f.Deliver(ctx, testBatch(t, id))[0]
	}
	if r := deliver(bucketA, "a1", true); r.Outcome != sink.OutcomeSpooled {
		t.Fatalf("run for A: %+v, want spooled", r)
	}
	if r := deliver(bucketB, "b1", false); r.Outcome != sink.OutcomeSuccess || r.Replayed != 0 {
		t.Fatalf("run for B: %+v, want success with nothing replayed", r)
	}
	if got := m.objects(t, bucketB); len(got) != 2 {
		t.Fatalf("bucket B holds %q, want its own run's .prom and .json", got)
	}
	if got := m.objects(t, bucketA); len(got) != 0 {
		t.Fatalf("bucket A holds %q before a run wrote to it again", got)
	}
	if r := deliver(bucketA, "a2", false); r.Outcome != sink.OutcomeSuccess || r.Replayed != 1 {
		t.Fatalf("second run for A: %+v, want success after replaying a1", r)
	}
	if got := m.objects(t, bucketA); len(got) != 4 {
		t.Fatalf("bucket A holds %q, want a1's and a2's objects", got)
	}
	if got := m.objects(t, bucketB); len(got) != 2 {
		t.Fatalf("bucket B holds %q, want only its own run", got)
	}
}
