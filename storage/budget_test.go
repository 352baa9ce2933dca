package storage

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestTokenBucket takes, refills, reserves, returns and pauses a shared
// bucket on each database.
func TestTokenBucket(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		const capacity, rate = 100.0, 10.0 // full in 10 s
		take := func(at time.Time, n int, floor float64) (int, time.Duration) {
			t.Helper()
			got, wait, err := db.TakeTokens(ctx, "b", at, capacity, rate, n, floor)
			if err != nil {
				t.Fatal(err)
			}
			return got, wait
		}
		if got, _ := take(t0, 60, 0); got != 60 {
			t.Fatalf("first take from a new (full) bucket: %d, want 60", got)
		}
		// 40 left; an add keeping a floor of 20 gets 20 of 30 asked.
		if got, _ := take(t0, 30, 20); got != 20 {
			t.Fatalf("take above the floor: %d, want 20", got)
		}
		if got, wait := take(t0, 5, 20); got != 0 || wait != 100*time.Millisecond {
			t.Fatalf("take at the floor: %d, wait %v; want 0, 100ms", got, wait)
		}
		// A removal may take the rest.
		if got, _ := take(t0, 50, 0); got != 20 {
			t.Fatalf("take to empty: %d, want 20", got)
		}
		if got, wait := take(t0, 1, 0); got != 0 || wait != 100*time.Millisecond {
			t.Fatalf("take from empty: %d, wait %v", got, wait)
		}
		// 2 s refill 20; a clock behind the last refill refills nothing.
		if got, _ := take(t0.Add(2*time.Second), 50, 0); got != 20 {
			t.Fatalf("after 2 s: %d, want 20", got)
		}
		if got, _ := take(t0.Add(time.Second), 50, 0); got != 0 {
			t.Fatalf("clock behind: %d, want 0", got)
		}
		// Never above capacity.
		if got, _ := take(t0.Add(time.Hour), 500, 0); got != 100 {
			t.Fatalf("after an hour: %d, want 100", got)
		}
		if err := db.ReturnTokens(ctx, "b", 150, capacity); err != nil {
			t.Fatal(err)
		}
		if got, _ := take(t0.Add(time.Hour), 500, 0); got != 100 {
			t.Fatalf("after returning 150: %d, want 100 (capacity)", got)
		}
		// A pause stops every take until it ends.
		if err := db.PauseTokens(ctx, "b", t0.Add(time.Hour+30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got, wait := take(t0.Add(time.Hour+10*time.Second), 1, 0); got != 0 || wait != 20*time.Second {
			t.Fatalf("paused: %d, wait %v; want 0, 20s", got, wait)
		}
		if got, _ := take(t0.Add(time.Hour+30*time.Second), 1, 0); got != 1 {
			t.Fatalf("after the pause: %d, want 1", got)
		}
	})
}

// TestTokenBucketShared takes from one bucket from many goroutines (as
// replicas would) and checks that no more is handed out than it holds.
func TestTokenBucketShared(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		total := 0
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 10 {
					got, _, err := db.TakeTokens(ctx, "shared", at, 50, 1, 3, 0)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					total += got
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if total != 50 {
			t.Fatalf("handed out %d tokens of a bucket of 50 at one instant", total)
		}
	})
}
