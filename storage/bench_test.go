package storage

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
)

// benchEvents is how many events BenchmarkVerify verifies.
const benchEvents = 1_000_000

// BenchmarkVerify verifies a chain of a million events read through
// EachAudit, on SQLite and (with JITBOT_TEST_POSTGRES) PostgreSQL, and
// reports the peak heap in use while it runs: it stays flat, whatever the
// length of the chain. Run it with
//
//	go test -run '^$' -bench BenchmarkVerify -benchtime 1x ./storage/
func BenchmarkVerify(b *testing.B) {
	onEachDatabase(b, func(b *testing.B, db *DB) {
		fillChain(b, db, benchEvents)
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)

		var peak atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			var m runtime.MemStats
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		})
		b.ResetTimer()
		for b.Loop() {
			res, err := audit.Verify(context.Background(), db, audit.Options{})
			if err != nil || res.Events != benchEvents {
				b.Fatalf("verify: %+v, %v", res, err)
			}
		}
		b.StopTimer()
		close(stop)
		wg.Wait()
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(before.HeapInuse)/(1<<20), "heap-before-MiB")
	})
}

// fillChain appends n chained events in large transactions (the chain is
// the one appendAudit makes; only the per-event transactions are saved).
func fillChain(b *testing.B, db *DB, n int) {
	b.Helper()
	const batch = 500
	var head access.ChainHead
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for done := 0; done < n; {
		rows := make([]auditRow, 0, batch)
		for i := 0; i < batch && done < n; i++ {
			ev := audit.Link(head, access.AuditEvent{
				At: at.Add(time.Duration(done) * time.Second), Actor: alice, Action: access.ActionRequested,
				RequestID: "00000000-0000-4000-8000-000000000001", Profile: "db-admin", GroupID: "group-db-admin",
				TargetUserID: alice.ObjectID, Reason: "investigate the outage", ConversationID: "19:c", ActivityID: "a1",
			})
			head = audit.Head(ev)
			rows = append(rows, toAuditRow(&ev))
			done++
		}
		if err := db.gorm.Create(&rows).Error; err != nil {
			b.Fatal(err)
		}
	}
	if err := db.gorm.Model(&chainHeadRow{}).Where("id = ?", chainHeadID).Updates(map[string]any{"seq": head.Seq, "hash": head.Hash}).Error; err != nil {
		b.Fatal(err)
	}
}
