package storage

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
)

// BenchmarkExport exports 1,000,000 audit events (the events view, CSV) from
// SQLite and from PostgreSQL (with JITBOT_TEST_POSTGRES) and reports the
// time and the peak Go heap while exporting, to show that memory stays
// flat. Filling the chain (fillChain, shared with BenchmarkVerify) is not
// timed. Run it on its own:
//
//	JITBOT_TEST_POSTGRES=... go test ./storage -run '^$' -bench BenchmarkExport -benchtime 1x -timeout 30m
func BenchmarkExport(b *testing.B) {
	for _, bk := range []struct {
		name string
		url  func(b *testing.B) string
	}{
		{DriverSQLite, func(b *testing.B) string { return "sqlite:" + filepath.Join(b.TempDir(), "jitbot.db") }},
		{DriverPostgres, func(b *testing.B) string { return newPostgresURL(b) }},
	} {
		b.Run(bk.name, func(b *testing.B) {
			ctx := context.Background()
			db, err := Open(ctx, bk.url(b), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = db.Close() })
			fillChain(b, db, benchEvents)

			b.ResetTimer()
			var peak, base uint64
			for range b.N {
				runtime.GC()
				base = heapBytes()
				stop := watchHeap(&peak)
				w, err := audit.NewEventWriter(io.Discard, audit.FormatCSV)
				if err != nil {
					b.Fatal(err)
				}
				// The export as `jitbot audit export` runs it: no deadline
				// of the caller's.
				if err := db.EachAudit(ctx, access.AuditQuery{}, w.Write); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				stop()
				if w.Count() != benchEvents {
					b.Fatalf("exported %d events, want %d", w.Count(), benchEvents)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(base)/(1<<20), "heap-before-MiB")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(benchEvents)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// watchHeap records the largest live heap into peak until stop is called.
func watchHeap(peak *uint64) (stop func()) {
	var done atomic.Bool
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for !done.Load() {
			if h := heapBytes(); h > *peak {
				*peak = h
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return func() { done.Store(true); <-finished }
}
