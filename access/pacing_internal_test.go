package access

import (
	"context"
	"math"
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

// memBudget is a BudgetStore in memory with the database's semantics.
type memBudget struct {
	mu     sync.Mutex
	tokens float64
	at     time.Time
}

func (m *memBudget) TakeTokens(_ context.Context, _ string, now time.Time, capacity, rate float64, n int, floor float64) (int, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.After(m.at) {
		m.tokens = math.Min(capacity, m.tokens+rate*now.Sub(m.at).Seconds())
		m.at = now
	}
	k := int(math.Max(0, math.Min(float64(n), math.Floor(m.tokens-floor))))
	m.tokens -= float64(k)
	if k == 0 {
		return 0, time.Duration((floor + 1 - m.tokens) / rate * float64(time.Second)), nil
	}
	return k, 0, nil
}

func (m *memBudget) ReturnTokens(_ context.Context, _ string, n int, capacity float64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens = math.Min(capacity, m.tokens+float64(n))
	return nil
}

func (m *memBudget) PauseTokens(context.Context, string, time.Time) error { return nil }

// fixedClock never moves; its timers fire after a real millisecond, so
// that waits spin without the budget refilling.
type fixedClock struct{ now time.Time }

func (c fixedClock) Now() time.Time { return c.now }
func (c fixedClock) TimerAt(time.Time) Timer {
	return realTimer{time.NewTimer(time.Millisecond)}
}

// TestPacerRemovalsFirst: adds leave the reserve to removals, and wait
// while a removal waits, even when the budget would let them through.
func TestPacerRemovalsFirst(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	b := &memBudget{tokens: 10, at: now}
	p := newPacer(&Config{Budget: b, WriteQuota: 100, WriteQuotaWindow: time.Hour, WriteReserve: 0.3, Clock: fixedClock{now}})
	if p.capacity != 10 || p.reserve != 3 {
		t.Fatalf("a quota of 100 makes a bucket of %v with a reserve of %v; want 10 and 3", p.capacity, p.reserve)
	}
	ctx := context.Background()
	// Adds may take 7 of the bucket's 10; the last 3 are the removals'.
	for i := range 7 {
		if n, err := p.take(ctx, PriorityAdd, 1); n != 1 || err != nil {
			t.Fatalf("add %d: %d, %v", i, n, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	if n, err := p.take(short, PriorityAdd, 1); n != 0 || err == nil {
		t.Fatalf("add into the reserve: %d, %v", n, err)
	}
	cancel()
	if n, err := p.take(ctx, PriorityRemove, 5); n != 3 || err != nil {
		t.Fatalf("removals take the reserve: %d, %v", n, err)
	}
	// A removal waits (the budget is empty); meanwhile tokens come back,
	// enough for an add above the reserve: the add still waits for the
	// removal, which gets its token first.
	got := make(chan int, 1)
	go func() {
		n, _ := p.take(ctx, PriorityRemove, 1)
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
		_, _ = p.take(short, PriorityAdd, 1)
	}()
	time.Sleep(10 * time.Millisecond)
	p.give(ctx, 1)
	if n := <-got; n != 1 {
		t.Fatalf("waiting removal got %d", n)
	}
	<-addDone
	if b.tokens != 0 {
		t.Fatalf("the add took a token meant for the waiting removal (tokens %v)", b.tokens)
	}
}
