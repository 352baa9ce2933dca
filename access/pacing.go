package access

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the revocation pace (see Config).
const (
	// DefaultRevokeConcurrency is the most grants one replica works on at
	// once.
	DefaultRevokeConcurrency = 32
	// DefaultWriteQuota and DefaultWriteQuotaWindow are Microsoft Graph's
	// documented identity and access write quota: 3,000 writes per 150 s
	// per application and tenant.
	DefaultWriteQuota       = 3000
	DefaultWriteQuotaWindow = 150 * time.Second
	// DefaultWriteReserve is the share of the write budget only removals
	// may use: adds, re-adds and drift repairs wait while the budget is
	// below it.
	DefaultWriteReserve = 0.2
)

// budgetName names the write budget of the directory in the BudgetStore.
const budgetName = "directory-writes"

// initialConcurrency is where the adaptive limit starts.
const initialConcurrency = 4

// WritePriority orders writes to the directory when the write budget is
// short.
type WritePriority int

const (
	// PriorityRemove is a removal of a grant's membership: it may use the
	// whole budget, and while one waits no add is let through.
	PriorityRemove WritePriority = iota
	// PriorityAdd is an add, a re-add or a drift repair: it waits while the
	// budget is below the reserve or a removal is waiting.
	PriorityAdd
)

// BudgetStore keeps token buckets that every replica shares.
type BudgetStore interface {
	// TakeTokens refills bucket name (created full when missing) at
	// perSecond up to capacity as of now, then takes up to n tokens, but
	// only as many as leave at least floor in it, and none while the
	// bucket is paused. It returns how many it took and, when none, how
	// long until one may be taken.
	TakeTokens(ctx context.Context, name string, now time.Time, capacity, perSecond float64, n int, floor float64) (taken int, wait time.Duration, err error)
	// ReturnTokens gives back n tokens taken and not used, up to capacity.
	ReturnTokens(ctx context.Context, name string, n int, capacity float64) error
	// PauseTokens lets no token be taken from bucket name before until
	// (the directory asked to wait).
	PauseTokens(ctx context.Context, name string, until time.Time) error
}

// pacer spends the directory's write budget (WriteQuota per
// WriteQuotaWindow, shared by every replica through the BudgetStore),
// removals first.
type pacer struct {
	store    BudgetStore
	clock    Clock
	capacity float64
	rate     float64 // tokens a second
	reserve  float64
	// removing counts the removals of this replica waiting for a token:
	// while there is one, adds wait.
	removing atomic.Int64
}

// newPacer returns the pacer of cfg, or nil when writes are not paced.
func newPacer(cfg *Config) *pacer {
	if cfg.Budget == nil || cfg.WriteQuota <= 0 {
		return nil
	}
	// Graph counts the writes of a sliding window. A bucket holding the
	// whole quota and refilling at quota/window would let twice the quota
	// through in the first window: it holds a tenth (the burst) and
	// refills the rest over the window, so that no window sees more than
	// the quota, and the sustained pace is 90% of it.
	q := float64(cfg.WriteQuota)
	burst := max(1, math.Floor(q/10))
	return &pacer{
		store: cfg.Budget, clock: cfg.Clock, capacity: burst,
		rate:    max(q-burst, 1) / cfg.WriteQuotaWindow.Seconds(),
		reserve: math.Floor(burst * cfg.WriteReserve),
	}
}

// errBudget is a write that waited for the budget as long as it could.
var errBudget = errors.New("the directory's write budget is spent")

// take waits until it can take at least one and at most n write tokens at
// priority p and returns how many it took. It gives up with ctx.
func (p *pacer) take(ctx context.Context, prio WritePriority, n int) (int, error) {
	if prio == PriorityRemove {
		p.removing.Add(1)
		defer p.removing.Add(-1)
	}
	for {
		floor := 0.0
		if prio == PriorityAdd {
			floor = p.reserve
		}
		taken, wait := 0, time.Duration(0)
		if prio == PriorityAdd && p.removing.Load() > 0 {
			wait = 50 * time.Millisecond
		} else {
			var err error
			taken, wait, err = p.store.TakeTokens(ctx, budgetName, p.clock.Now().UTC(), p.capacity, p.rate, n, floor)
			if err != nil {
				return 0, fmt.Errorf("take write budget: %w", err)
			}
			if taken > 0 {
				return taken, nil
			}
		}
		wait = min(max(wait, time.Millisecond), time.Second)
		t := p.clock.TimerAt(p.clock.Now().Add(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("%w: %w", errBudget, ctx.Err())
		case <-t.C():
		}
	}
}

// give returns n unused tokens.
func (p *pacer) give(ctx context.Context, n int) {
	if n <= 0 {
		return
	}
	_ = p.store.ReturnTokens(ctx, budgetName, n, p.capacity)
}

// pause stops every replica's writes until until.
func (p *pacer) pause(ctx context.Context, until time.Time) error {
	return p.store.PauseTokens(ctx, budgetName, until)
}

// paceWrite takes one write token at priority prio (nothing without a
// pacer), waiting at most as long as ctx allows.
func (s *Service) paceWrite(ctx context.Context, prio WritePriority) error {
	if s.pacer == nil {
		return nil
	}
	_, err := s.pacer.take(ctx, prio, 1)
	return err
}

// limiter bounds the grants worked on at once, between 1 and max. It
// starts slow, as TCP does: below its threshold (at first max) each
// successful call adds a slot, so the limit doubles with each limit's worth
// of successes and a backlog found at start-up is worked on at full
// concurrency after a few rounds of calls rather than hundreds. Throttling,
// an outage or a timeout halves the limit and sets the threshold there;
// above the threshold it grows by one per limit's worth of successes
// (additive increase, multiplicative decrease).
type limiter struct {
	mu        sync.Mutex
	max       int
	limit     float64
	threshold float64
	inflight  int
	changed   chan struct{} // closed and replaced when a slot frees up
}

func newLimiter(n int) *limiter {
	return &limiter{max: n, limit: float64(min(n, initialConcurrency)), threshold: float64(n), changed: make(chan struct{})}
}

// acquire waits for at least atLeast free slots (or all the limit's, if
// fewer) and takes up to n; it returns how many it took (0 once ctx ends).
func (l *limiter) acquire(ctx context.Context, n, atLeast int) int {
	for {
		l.mu.Lock()
		free := int(l.limit) - l.inflight
		if free > 0 && free >= min(atLeast, int(l.limit), n) {
			k := min(free, n)
			l.inflight += k
			l.mu.Unlock()
			return k
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return 0
		case <-ch:
		}
	}
}

// release frees n slots.
func (l *limiter) release(n int) {
	l.mu.Lock()
	l.inflight -= n
	l.signalLocked()
	l.mu.Unlock()
}

// succeeded grows the limit: by one below the threshold, by one per limit
// successes above it.
func (l *limiter) succeeded() {
	l.mu.Lock()
	if l.limit < l.threshold {
		l.limit = min(l.threshold, l.limit+1)
	} else {
		l.limit = l.limit + 1/l.limit
	}
	l.limit = min(float64(l.max), l.limit)
	l.signalLocked()
	l.mu.Unlock()
}

// congested halves the limit and ends the slow start there.
func (l *limiter) congested() {
	l.mu.Lock()
	l.limit = max(1, l.limit/2)
	l.threshold = l.limit
	l.mu.Unlock()
}

// idle reports whether no slot is taken.
func (l *limiter) idle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inflight == 0
}

// current is the limit as it stands.
func (l *limiter) current() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

func (l *limiter) signalLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// ticket is what the work on one claimed grant did with its write token
// and its directory calls.
type ticket struct {
	token     bool // a write token was taken for it and not yet used
	called    bool // a directory call succeeded
	congested bool // a directory call was throttled, failed transiently or timed out
	// tell, if set, tells the people concerned that the grant ended; it
	// runs once the grant is finished and its slot freed.
	tell func(ctx context.Context)
}

// semaphore bounds how many run at once.
type semaphore chan struct{}

// acquire takes a place, or reports false once ctx ends.
func (s semaphore) acquire(ctx context.Context) bool {
	select {
	case s <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// release gives a place back.
func (s semaphore) release() { <-s }
