package access

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestLimiterSlowStartThenAIMD grows the limit by one per success until
// the first congestion (doubling each limit's worth), halves it on
// congestion, then grows it by one per limit successes, and keeps it
// between 1 and its bound.
func TestLimiterSlowStartThenAIMD(t *testing.T) {
	l := newLimiter(40)
	if got := l.current(); got != initialConcurrency {
		t.Fatalf("starts at %d, want %d", got, initialConcurrency)
	}
	// A backlog: one round of 4 successes doubles the limit, the next
	// round of 8 doubles it again.
	for range 4 {
		l.succeeded()
	}
	if got := l.current(); got != 8 {
		t.Fatalf("after 4 successes at 4: %d, want 8", got)
	}
	for range 8 {
		l.succeeded()
	}
	if got := l.current(); got != 16 {
		t.Fatalf("after 8 more successes: %d, want 16", got)
	}
	for range 100 {
		l.succeeded()
	}
	if got := l.current(); got != 40 {
		t.Fatalf("grew to %d, want the bound 40", got)
	}
	l.congested()
	if got := l.current(); got != 20 {
		t.Fatalf("halved to %d, want 20", got)
	}
	// After congestion: one more per limit's worth of successes.
	for range 19 {
		l.succeeded()
	}
	if got := l.current(); got != 20 {
		t.Fatalf("after 19 successes at 20: %d, want still 20 (20.9)", got)
	}
	l.succeeded()
	l.succeeded()
	if got := l.current(); got != 21 {
		t.Fatalf("after 21 successes at 20: %d, want 21", got)
	}
	l.congested()
	l.congested()
	if got := l.current(); got != 5 {
		t.Fatalf("halved twice to %d, want 5", got)
	}
	for range 4 {
		l.succeeded()
	}
	if got := l.current(); got != 5 {
		t.Fatalf("slow start again after congestion: %d, want 5", got)
	}
	for range 20 {
		l.congested()
	}
	if got := l.current(); got != 1 {
		t.Fatalf("floor %d, want 1", got)
	}
	// Slots: at most the limit are handed out.
	if got := l.acquire(context.Background(), 8, 1); got != 1 {
		t.Fatalf("acquired %d slots at limit 1", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if got := l.acquire(ctx, 1, 1); got != 0 {
		t.Fatalf("acquired %d slots beyond the limit", got)
	}
	l.release(1)
	if !l.idle() {
		t.Fatal("not idle after release")
	}
}

// memBudget is a BudgetStore in memory: one bucket, locked for each call.
type memBudget struct {
	mu sync.Mutex
	b  Bucket
}

func (m *memBudget) WithBucket(_ context.Context, _ string, fn func(b *Bucket) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.b
	if err := fn(&b); err != nil {
		return err
	}
	m.b = b
	return nil
}

// add puts n tokens in the bucket, as another replica giving some back.
func (m *memBudget) add(n float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.b.Tokens += n
}

func (m *memBudget) tokens() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.b.Tokens
}

// fixedClock never moves; its timers fire after a real millisecond, so
// that waits spin without the budget refilling.
type fixedClock struct{ now time.Time }

func (c fixedClock) Now() time.Time { return c.now }
func (c fixedClock) TimerAt(time.Time) Timer {
	return realTimer{time.NewTimer(time.Millisecond)}
}

// TestNoticesComeAfterRemovals: while more than busyNotices grants are
// worked on, at most busyNotices notices are sent at once; otherwise, and
// while the slots wait for the write budget, up to the bound; a waiting
// notice goes as soon as few enough grants are worked on.
func TestNoticesComeAfterRemovals(t *testing.T) {
	const bound = 32
	ctx := context.Background()
	l := newLimiter(bound)
	for range 100 {
		l.succeeded()
	}
	busy := busyNotices(bound)
	if busy != 2 {
		t.Fatalf("busyNotices(%d) = %d, want 2", bound, busy)
	}
	take := func(n int) {
		t.Helper()
		for range n {
			if !l.acquireNotice(ctx) {
				t.Fatal("a notice within the bound was refused")
			}
		}
	}
	refused := func(what string) {
		t.Helper()
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if l.acquireNotice(short) {
			t.Fatalf("%s: a notice was let through", what)
		}
	}
	if got := l.acquire(ctx, busy+1, 1); got != busy+1 {
		t.Fatalf("took %d slots, want %d", got, busy+1)
	}
	take(busy)
	refused("more grants worked on than the share, the share taken")
	got := make(chan bool)
	go func() { got <- l.acquireNotice(ctx) }()
	l.release(1) // as many grants as the share: up to the bound
	if !<-got {
		t.Fatal("the waiting notice did not go once few grants were worked on")
	}
	take(bound - busy - 1)
	refused("the bound taken")
	for range bound - busy {
		l.releaseNotice()
	}
	// Slots waiting for the write budget are no removals under way.
	l.acquire(ctx, bound-busy, 1)
	l.budgetWait(bound - busy)
	take(bound - busy)
	refused("the bound taken, the slots waiting for the budget")
	for range bound - busy {
		l.releaseNotice()
	}
	l.budgetWait(-(bound - busy))
	refused("the slots at work again, the share taken")
}

// TestPacerRemovalsFirst: adds leave the reserve to removals, and wait
// while a removal waits, even when the budget would let them through.
func TestPacerRemovalsFirst(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	b := &memBudget{b: Bucket{Tokens: 10, RefilledAt: now}}
	p := NewWritePacer(&Config{Budget: b, WriteQuota: 100, WriteQuotaWindow: time.Hour, WriteReserve: 0.3, Clock: fixedClock{now}})
	if p.capacity != 10 || p.reserve != 3 {
		t.Fatalf("a quota of 100 makes a bucket of %v with a reserve of %v; want 10 and 3", p.capacity, p.reserve)
	}
	ctx := context.Background()
	// Adds may take 7 of the bucket's 10; the last 3 are the removals'.
	for i := range 7 {
		if n, err := p.Take(ctx, PriorityAdd, 1); n != 1 || err != nil {
			t.Fatalf("add %d: %d, %v", i, n, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	if n, err := p.Take(short, PriorityAdd, 1); n != 0 || err == nil {
		t.Fatalf("add into the reserve: %d, %v", n, err)
	}
	cancel()
	if n, err := p.Take(ctx, PriorityRemove, 5); n != 3 || err != nil {
		t.Fatalf("removals take the reserve: %d, %v", n, err)
	}
	// A removal waits (the budget is empty); meanwhile tokens come back,
	// enough for an add above the reserve: the add still waits for the
	// removal, which gets its token first.
	got := make(chan int, 1)
	go func() {
		n, _ := p.Take(ctx, PriorityRemove, 1)
		got <- n
	}()
	for p.removing.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	addDone := make(chan struct{})
	go func() {
		defer close(addDone)
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, _ = p.Take(short, PriorityAdd, 1)
	}()
	time.Sleep(10 * time.Millisecond)
	b.add(1)
	if n := <-got; n != 1 {
		t.Fatalf("waiting removal got %d", n)
	}
	<-addDone
	if tokens := b.tokens(); tokens != 0 {
		t.Fatalf("the add took a token meant for the waiting removal (tokens %v)", tokens)
	}
}

// TestBucketSettle is the bucket arithmetic: refill up to what the leases
// leave, the adds' floor, waits, leases given back and reported spent, the
// end of every lease, pauses and waiting removals.
func TestBucketSettle(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := &WritePacer{capacity: 100, rate: 10, reserve: 20} // full in 10 s
	var b Bucket
	take := func(at time.Time, want int, prio WritePriority) leaseGot {
		t.Helper()
		return p.settle(&b, leaseAsk{now: at, want: want, need: want, prio: prio})
	}
	if got := take(t0, 60, PriorityAdd); got.free != 60 || got.reserved != 0 || b.Leased != 60 {
		t.Fatalf("first take from a new (full) bucket: %+v, leased %v", got, b.Leased)
	}
	// 40 left; an add keeping the floor of 20 gets 20 of 30 asked.
	if got := take(t0, 30, PriorityAdd); got.free != 20 {
		t.Fatalf("take above the floor: %+v, want 20", got)
	}
	if got := take(t0, 5, PriorityAdd); got.free+got.reserved != 0 || got.wait != 100*time.Millisecond {
		t.Fatalf("take at the floor: %+v; want none, wait 100ms", got)
	}
	// A removal may take the rest: all from the reserve.
	if got := take(t0, 50, PriorityRemove); got.free != 0 || got.reserved != 20 {
		t.Fatalf("take to empty: %+v, want 20 reserved", got)
	}
	if got := take(t0, 1, PriorityRemove); got.free+got.reserved != 0 || got.wait != 100*time.Millisecond {
		t.Fatalf("take from empty: %+v", got)
	}
	// That removal keeps adds off until it asks again and a lease time.
	if want := t0.Add(pollMin + WriteLeaseTime); !b.RemovalsUntil.Equal(want) {
		t.Fatalf("removals wait until %v, want %v", b.RemovalsUntil, want)
	}
	if got := take(t0.Add(time.Second), 1, PriorityAdd); got.free != 0 || got.wait != pollMin {
		t.Fatalf("add while a removal waits: %+v", got)
	}
	// All 100 are leased: nothing refills until leases are reported.
	if got := take(t0.Add(time.Second), 50, PriorityRemove); got.free+got.reserved != 0 {
		t.Fatalf("refilled while everything is leased: %+v (bucket %+v)", got, b)
	}
	// 30 reported spent, 10 given back: 10 in the bucket, room for 40.
	p.settle(&b, leaseAsk{now: t0.Add(time.Second), spent: 30, unspent: 10})
	if b.Leased != 60 || b.Tokens != 10 {
		t.Fatalf("after a report: %+v, want 60 leased and 10 tokens", b)
	}
	// 5 s later the bucket would hold 60 but for the leases: 40.
	b.LeasedUntil = t0.Add(time.Hour)
	if got := take(t0.Add(6*time.Second), 100, PriorityRemove); got.free+got.reserved != 40 {
		t.Fatalf("5 s later: %+v, want the 40 the leases leave", got)
	}
	// Every lease has ended 2 lease times after the last: the bucket
	// refills to its capacity again. A clock behind refills nothing.
	end := b.LeasedUntil
	p.settle(&b, leaseAsk{now: end})
	if b.Leased != 0 || b.Tokens != 0 {
		t.Fatalf("at the end of every lease: %+v", b)
	}
	p.settle(&b, leaseAsk{now: end.Add(-time.Second)})
	if b.Tokens != 0 {
		t.Fatalf("clock behind refilled: %+v", b)
	}
	if got := take(end.Add(time.Hour), 500, PriorityRemove); got.free != 80 || got.reserved != 20 {
		t.Fatalf("after an hour: %+v, want 100 (capacity), 20 of them the reserve", got)
	}
	// What is given back never overfills the bucket.
	b.LeasedUntil = time.Time{}
	p.settle(&b, leaseAsk{now: end.Add(time.Hour), unspent: 150})
	if b.Tokens != 100 || b.Leased != 0 {
		t.Fatalf("after giving back 150: %+v, want 100 tokens (capacity)", b)
	}
	// A pause stops every take until it ends.
	at := end.Add(time.Hour)
	got := p.settle(&b, leaseAsk{now: at, pause: at.Add(30 * time.Second)})
	if !got.pausedUntil.Equal(at.Add(30 * time.Second)) {
		t.Fatalf("pause: %+v", got)
	}
	if got := take(at.Add(10*time.Second), 1, PriorityRemove); got.free+got.reserved != 0 || got.wait != 20*time.Second {
		t.Fatalf("paused: %+v; want none, wait 20s", got)
	}
	if got := take(at.Add(30*time.Second), 1, PriorityRemove); got.free+got.reserved != 1 {
		t.Fatalf("after the pause: %+v, want 1", got)
	}
}
