package storage

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/access/accesstest"
)

// TestWithBucket stores what fn leaves in a bucket, every field, stores
// nothing when fn fails, and creates a missing bucket as the zero one.
func TestWithBucket(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 12, 0, 0, 123456789, time.UTC)
		want := access.Bucket{
			Tokens: 12.5, RefilledAt: t0, PausedUntil: t0.Add(time.Second),
			Leased: 3, LeasedUntil: t0.Add(2 * time.Second), RemovalsUntil: t0.Add(3 * time.Second),
		}
		err := db.WithBucket(ctx, "b", func(b *access.Bucket) error {
			if *b != (access.Bucket{}) {
				t.Errorf("a new bucket is %+v, want the zero bucket", *b)
			}
			*b = want
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		failed := errors.New("no")
		err = db.WithBucket(ctx, "b", func(b *access.Bucket) error {
			if *b != want {
				t.Errorf("stored %+v, want %+v", *b, want)
			}
			b.Tokens = 99
			return failed
		})
		if !errors.Is(err, failed) {
			t.Fatalf("fn's error: %v", err)
		}
		_ = db.WithBucket(ctx, "b", func(b *access.Bucket) error {
			if b.Tokens != want.Tokens {
				t.Errorf("a failed fn stored tokens %v", b.Tokens)
			}
			return nil
		})
		if err := db.WithBucket(ctx, "", func(*access.Bucket) error { return nil }); err == nil {
			t.Fatal("a bucket without a name was accepted")
		}
	})
}

// TestWithBucketSerialised changes one bucket from many goroutines (as
// replicas would): every change sees the one before.
func TestWithBucketSerialised(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 10 {
					err := db.WithBucket(ctx, "shared", func(b *access.Bucket) error {
						b.Tokens++
						return nil
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		_ = db.WithBucket(ctx, "shared", func(b *access.Bucket) error {
			if b.Tokens != 80 {
				t.Errorf("80 increments made %v", b.Tokens)
			}
			return nil
		})
	})
}

// simQuota and simWindow are the quota of the simulations: 300 writes per
// 15 s, a bucket of 30 refilled at 18 a second, 6 of them the removals'.
const (
	simQuota  = 300
	simWindow = 15 * time.Second
)

// write is what one Take of a simulated replica got, and when.
type write struct {
	replica int
	prio    access.WritePriority
	at      time.Time
	n       int
}

// taker is a writer of a simulated replica: it takes n tokens at prio,
// again and again. A holder (hold set) instead takes 1, then holds its
// lease for hold before taking the rest of n at once, then rests.
type taker struct {
	replica int
	prio    access.WritePriority
	n       int
	from    time.Duration // when it starts, after the simulation's start
	hold    time.Duration
	rest    time.Duration
}

// sleep waits on the clock for d, or until ctx ends.
func (s *paceSim) sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := s.clock.TimerAt(s.clock.Now().Add(d))
	select {
	case <-ctx.Done():
		t.Stop()
	case <-t.C():
	}
}

// paceSim is replicas sharing the write budget of one database, each with
// its own pacer, on one fake clock.
type paceSim struct {
	t      *testing.T
	clock  *accesstest.Clock
	pacers []*access.WritePacer
	mu     sync.Mutex
	writes []write
}

func newPaceSim(t *testing.T, db *DB, replicas int) *paceSim {
	clock := accesstest.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	s := &paceSim{t: t, clock: clock}
	for range replicas {
		s.pacers = append(s.pacers, access.NewWritePacer(&access.Config{
			Budget: db, Clock: clock, WriteQuota: simQuota, WriteQuotaWindow: simWindow, WriteReserve: 0.2,
		}))
	}
	return s
}

// run runs takers until the clock has moved on by d in steps of step,
// calling at (if set) with the clock's time before each step.
func (s *paceSim) run(takers []taker, d, step time.Duration, at func(now time.Time)) {
	t := s.t
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, tk := range takers {
		wg.Go(func() {
			take := func(n int) bool {
				got, err := s.pacers[tk.replica].Take(ctx, tk.prio, n)
				if err != nil {
					if ctx.Err() == nil {
						t.Error(err)
					}
					return false
				}
				s.mu.Lock()
				s.writes = append(s.writes, write{replica: tk.replica, prio: tk.prio, at: s.clock.Now(), n: got})
				s.mu.Unlock()
				return true
			}
			s.sleep(ctx, tk.from)
			for ctx.Err() == nil {
				if tk.hold == 0 {
					if !take(tk.n) {
						return
					}
					continue
				}
				if !take(1) {
					return
				}
				s.sleep(ctx, tk.hold)
				if !take(tk.n - 1) {
					return
				}
				s.sleep(ctx, tk.rest)
			}
		})
	}
	end := s.clock.Now().Add(d)
	for s.clock.Now().Before(end) {
		// Every taker waits on a timer: nothing moves until the clock does.
		deadline := time.Now().Add(10 * time.Second)
		for quiet := 0; quiet < 3; {
			if s.clock.Timers() == len(takers) {
				quiet++
			} else {
				quiet = 0
			}
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("the takers never all waited (%d timers for %d takers)", s.clock.Timers(), len(takers))
			}
			time.Sleep(200 * time.Microsecond)
		}
		if at != nil {
			at(s.clock.Now())
		}
		s.clock.Advance(step)
	}
	cancel()
	// Fire the takers' timers so that they see ctx cancelled.
	s.clock.Advance(time.Hour)
	wg.Wait()
}

// maxInWindow is the most writes of any closed window of length w.
func maxInWindow(writes []write, w time.Duration) (int, time.Time) {
	sort.Slice(writes, func(i, j int) bool { return writes[i].at.Before(writes[j].at) })
	best, at, sum, j := 0, time.Time{}, 0, 0
	for i := range writes {
		sum += writes[i].n
		for writes[i].at.Sub(writes[j].at) > w {
			sum -= writes[j].n
			j++
		}
		if sum > best {
			best, at = sum, writes[j].at
		}
	}
	return best, at
}

// TestLeasedBudgetQuota: three replicas, two of which hold their leases a
// while before spending them, then adds and removals in each, always short
// of budget, never write more than the quota in any window of its length,
// and still write at close to the refill rate.
func TestLeasedBudgetQuota(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		s := newPaceSim(t, db, 3)
		// The holders spend little, so the bucket fills up while they
		// hold leases; the others start later and drain it.
		takers := []taker{
			{replica: 1, prio: access.PriorityAdd, n: 12, hold: 900 * time.Millisecond, rest: 3 * time.Second},
			{replica: 2, prio: access.PriorityRemove, n: 12, hold: 900 * time.Millisecond, rest: 3 * time.Second},
		}
		for r := range 3 {
			// Just before the holders spend the leases they took at 3.9 s.
			from := 4750 * time.Millisecond
			takers = append(takers, taker{replica: r, prio: access.PriorityRemove, n: 5, from: from},
				taker{replica: r, prio: access.PriorityAdd, n: 1, from: from}, taker{replica: r, prio: access.PriorityAdd, n: 1, from: from})
		}
		const d = 40 * time.Second
		s.run(takers, d, 50*time.Millisecond, nil)
		most, at := maxInWindow(s.writes, simWindow)
		if most > simQuota {
			t.Fatalf("%d writes in the window from %s, more than the quota of %d", most, at.Format(time.TimeOnly), simQuota)
		}
		total := 0
		for _, w := range s.writes {
			total += w.n
		}
		// The bucket (30) and its refill (18 a second) allow 750 in 40 s,
		// less what the holders' leases keep it from refilling.
		if total < 600 {
			t.Fatalf("%d writes in %s; the budget allows 750", total, d)
		}
		t.Logf("%d writes in %s, at most %d in a window of %s", total, d, most, simWindow)
	})
}

// TestLeasedBudgetRemovalsFirst: while one replica's removals wait for
// budget, no replica's adds get any once a lease time has passed.
func TestLeasedBudgetRemovalsFirst(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		s := newPaceSim(t, db, 3)
		start := s.clock.Now()
		takers := []taker{
			{replica: 0, prio: access.PriorityAdd, n: 1}, {replica: 0, prio: access.PriorityAdd, n: 1},
			{replica: 1, prio: access.PriorityAdd, n: 1},
			{replica: 2, prio: access.PriorityRemove, n: 5},
		}
		const d = 20 * time.Second
		s.run(takers, d, 50*time.Millisecond, nil)
		adds, removals := 0, 0
		for _, w := range s.writes {
			switch {
			case w.prio == access.PriorityRemove:
				removals += w.n
			case w.at.Sub(start) > 2*access.WriteLeaseTime:
				t.Errorf("an add of replica %d got %d at %s while removals waited", w.replica, w.n, w.at.Format(time.TimeOnly))
			default:
				adds += w.n
			}
		}
		// 30 + 18 a second for 20 s is 390; the adds got some of the
		// first lease time's.
		if removals < 330 {
			t.Fatalf("removals got %d, adds %d: want nearly all of 390", removals, adds)
		}
		t.Logf("removals %d, adds %d (all in the first %s)", removals, adds, 2*access.WriteLeaseTime)
	})
}

// TestLeasedBudgetPause: a pause one replica records stops every replica's
// writes within a lease time, until it ends.
func TestLeasedBudgetPause(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		s := newPaceSim(t, db, 3)
		start := s.clock.Now()
		pauseAt, until := start.Add(5*time.Second), start.Add(12*time.Second)
		takers := []taker{
			{replica: 0, prio: access.PriorityRemove, n: 1}, {replica: 1, prio: access.PriorityRemove, n: 5},
			{replica: 1, prio: access.PriorityAdd, n: 1}, {replica: 2, prio: access.PriorityAdd, n: 1},
		}
		paused := false
		s.run(takers, 20*time.Second, 50*time.Millisecond, func(now time.Time) {
			if !paused && !now.Before(pauseAt) {
				paused = true
				if err := s.pacers[0].Pause(context.Background(), until); err != nil {
					t.Error(err)
				}
			}
		})
		var after int
		for _, w := range s.writes {
			if w.at.After(pauseAt.Add(access.WriteLeaseTime)) && w.at.Before(until) {
				t.Errorf("replica %d wrote %d at %s, during the pause", w.replica, w.n, w.at.Format(time.TimeOnly))
			}
			if !w.at.Before(until) {
				after += w.n
			}
		}
		if after == 0 {
			t.Fatal("no writes after the pause")
		}
	})
}

// TestLeaseGivenBack: what is left of a lease goes back to the bucket once
// the lease has ended, and when the pacer stops.
func TestLeaseGivenBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		s := newPaceSim(t, db, 1)
		p := s.pacers[0]
		stored := func() budgetRow {
			var row budgetRow
			if err := db.gorm.Take(&row).Error; err != nil {
				t.Fatal(err)
			}
			return row
		}
		waitFor := func(what string, ok func(budgetRow) bool) {
			deadline := time.Now().Add(10 * time.Second)
			for !ok(stored()) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: bucket stayed %+v", what, stored())
				}
				time.Sleep(time.Millisecond)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.Run(ctx)
		}()
		if n, err := p.Take(ctx, access.PriorityAdd, 1); n != 1 || err != nil {
			t.Fatalf("take: %d, %v", n, err)
		}
		if row := stored(); row.Leased <= 1 || row.Tokens+row.Leased != 30 {
			t.Fatalf("after a take of 1: %+v, want a lease of more than one out of 30", row)
		}
		// The lease ends: the 29 left of the bucket's 30 are back.
		s.clock.Advance(access.WriteLeaseTime)
		waitFor("lease ended", func(r budgetRow) bool { return r.Leased == 0 && r.Tokens == 29 })
		// A new lease, given back when the pacer stops.
		if n, err := p.Take(ctx, access.PriorityRemove, 2); n != 2 || err != nil {
			t.Fatalf("take: %d, %v", n, err)
		}
		if row := stored(); row.Leased <= 2 {
			t.Fatalf("after a take of 2: %+v", row)
		}
		cancel()
		<-done
		if row := stored(); row.Leased != 0 || row.Tokens != 27 {
			t.Fatalf("after stopping: %+v, want nothing leased and 27 tokens", row)
		}
	})
}
