package access

import (
	"cmp"
	"context"
	"sync"
	"time"
)

// Defaults of the revocation pace (see Config).
const (
	// DefaultRevokeConcurrency is the most grants one replica works on at
	// once. A removal spends most of its time waiting for the directory
	// (Graph answers a batch of 20 in tens of milliseconds): 10,000 grants
	// due together took 34.6 s with 32 and 23.0 s with 128 (jitbot-bench
	// -scenario expiry -grants 10000 -graph-latency 20ms), the writes
	// being paced by the write budget either way.
	DefaultRevokeConcurrency = 128
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

// limiter bounds the grants worked on at once, between 1 and max. It
// starts slow, as TCP does: below its threshold (at first max) each
// successful call adds a slot, so the limit doubles with each limit's worth
// of successes and a backlog found at start-up is worked on at full
// concurrency after a few rounds of calls rather than hundreds. Throttling,
// an outage or a timeout halves the limit and sets the threshold there;
// above the threshold it grows by one per limit's worth of successes
// (additive increase, multiplicative decrease).
//
// It also bounds the end-of-grant notices sent at once, which come second:
// busyNotices(max) while more grants than that are being worked on (slots
// held while waiting for the write budget do not count), otherwise max.
// Telling people that a grant ended then takes little of the processor
// and memory the removals of a burst of due grants need, while removals
// paced by the write budget leave the notices room.
type limiter struct {
	mu        sync.Mutex
	max       int
	limit     float64
	threshold float64
	inflight  int
	waiting   int           // slots held while waiting for the write budget
	notices   int           // notices being sent
	changed   chan struct{} // closed and replaced when a slot or a notice frees up
}

func newLimiter(n int) *limiter {
	return &limiter{max: n, limit: float64(min(n, initialConcurrency)), threshold: float64(n), changed: make(chan struct{})}
}

// busyNotices is how many notices may be sent at once while many grants
// are being worked on, of a limiter of max: a sixteenth of it, at least
// one. 10,000 grants due together, Graph at 20 ms (jitbot-bench -scenario
// expiry -grants 10000 -graph-latency 20ms): the bot's peak RSS 66.5 to
// 72.3 MiB with up to 128 notices at once, 60.6 to 62.2 MiB with 8; with
// 2 the notices fell behind, and with their workers waiting the bot
// peaked at 96 to 102 MiB.
func busyNotices(max int) int { return cmp.Or(max/16, 1) }

// acquire waits for at least atLeast free slots (or all the limit's, if
// fewer) and takes up to n; it returns how many it took (0 once ctx ends).
func (l *limiter) acquire(ctx context.Context, n, atLeast int) int {
	k := 0
	l.await(ctx, func() bool {
		free := int(l.limit) - l.inflight
		if free > 0 && free >= min(atLeast, int(l.limit), n) {
			k = min(free, n)
			l.inflight += k
		}
		return k > 0
	})
	return k
}

// await calls take with l locked until it reports true, waiting for a
// change of l between calls; it reports false, without taking, once ctx
// ends.
func (l *limiter) await(ctx context.Context, take func() bool) bool {
	for {
		l.mu.Lock()
		if take() {
			l.mu.Unlock()
			return true
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			return false
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

// acquireNotice waits until a notice may be sent (see limiter), or
// reports false once ctx ends.
func (l *limiter) acquireNotice(ctx context.Context) bool {
	return l.await(ctx, func() bool {
		limit := l.max
		if busy := busyNotices(l.max); l.inflight-l.waiting > busy {
			limit = busy
		}
		if l.notices >= limit {
			return false
		}
		l.notices++
		return true
	})
}

// releaseNotice ends a notice taken with acquireNotice.
func (l *limiter) releaseNotice() {
	l.mu.Lock()
	l.notices--
	l.signalLocked()
	l.mu.Unlock()
}

// budgetWait records that n of the slots taken wait for the write budget
// (n < 0: no longer wait), for acquireNotice.
func (l *limiter) budgetWait(n int) {
	l.mu.Lock()
	l.waiting += n
	l.signalLocked()
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
