package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metricwrap/metricwrap/internal/spool"
	"github.com/metricwrap/metricwrap/internal/testenv"
)

// TestFlushSaysWhatRemainsAndDropsOrphans: a flush that runs out of time
// says how many batches remain per sink; once the sink's URL changed, its
// old queue is an orphan that flush reports and --drop-orphans deletes.
func TestFlushSaysWhatRemainsAndDropsOrphans(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	dir := t.TempDir()
	config := func(url string) string {
		p := filepath.Join(dir, "metricwrap.yml")
		body := fmt.Sprintf("exporters:\n  dummy: {builtin: dummy}\nsinks:\n  gw: {type: pushgateway, url: %s, retry_for: 0s}\nspool: {dir: %s}\n",
			url, filepath.Join(dir, "spool"))
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := config(down)
	for range 2 {
		if r := runMW(t, baseEnv(), "--config.file", cfg, "run", "dummy", "--no-print", "--push", "gw"); r.code != 0 {
			t.Fatalf("run: exit %d; stderr:\n%s", r.code, r.stderr)
		}
	}
	r := runMW(t, baseEnv(), "--config.file", cfg, "flush", "--timeout", "1s")
	if r.code != 1 || !strings.Contains(r.stderr, "2 batches remain (gw 2)") {
		t.Fatalf("flush: exit %d, want 1 and what remains; stderr:\n%s", r.code, r.stderr)
	}

	gw := startGateway(t)
	cfg = config(gw.URL)
	r = runMW(t, baseEnv(), "--config.file", cfg, "flush")
	if r.code != 0 || !strings.Contains(r.stderr, "whose destination no sink delivers to") || !strings.Contains(r.stderr, down) {
		t.Fatalf("flush after the URL changed: exit %d, want 0 and the orphan named; stderr:\n%s", r.code, r.stderr)
	}
	if groups := testenv.ReadPushgateway(t, gw.URL); len(groups) != 0 {
		t.Fatalf("batches spooled for %s went to the new gateway: %v", down, groups)
	}
	r = runMW(t, baseEnv(), "--config.file", cfg, "flush", "--drop-orphans")
	if r.code != 0 || !strings.Contains(r.stderr, "dropped 2 orphaned batches") {
		t.Fatalf("flush --drop-orphans: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	r = runMW(t, baseEnv(), "--config.file", cfg, "flush")
	if r.code != 0 || strings.Contains(r.stderr, "whose destination no sink delivers to") {
		t.Fatalf("orphans reported after they were dropped: exit %d; stderr:\n%s", r.code, r.stderr)
	}
}

// TestFlushFailsWhenTheSpoolIsHeld: flush's whole job is the spool; when
// another process holds it (serve) or it cannot be used, flush delivered
// nothing and must say so and exit 1, not exit 0 (nor claim "dropped 0").
func TestFlushFailsWhenTheSpoolIsHeld(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "metricwrap.yml")
	body := fmt.Sprintf("sinks:\n  gw: {type: pushgateway, url: http://127.0.0.1:9, retry_for: 0s}\nspool: {dir: %s}\n", filepath.Join(dir, "spool"))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	held, err := spool.Open(spool.Options{Dir: filepath.Join(dir, "spool")})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for _, args := range [][]string{{"flush"}, {"flush", "--drop-orphans"}} {
		r := runMW(t, baseEnv(), append([]string{"--config.file", cfg}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "cannot use the spool") || strings.Contains(r.stderr, "dropped 0") {
			t.Errorf("%v with the spool held: exit %d, want 1 and why; stderr:\n%s", args, r.code, r.stderr)
		}
	}
}
