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

// The directory's write budget is a token bucket every replica shares
// through a BudgetStore. A replica does not go to the database for each
// write: it leases a few tokens at a time and spends them from memory.
//
// Why no window of Graph's quota sees more than the quota. The stored
// bucket keeps Tokens (in the bucket) and Leased (handed to replicas and
// not yet reported spent or given back), and never lets the bucket refill
// above capacity − Leased, so that Tokens + Leased ≤ capacity at every
// change: a lease moves tokens from Tokens to Leased, a report of spent
// tokens lowers Leased, a token given back moves from Leased to Tokens.
// A write in a window [a, a+W] spends a token that at a was in the bucket,
// or in a lease not yet reported (so in Leased), or was refilled after a
// (at most rate·W). Hence the writes of any window number at most
// capacity + rate·W, which newWritePacer makes the quota. This holds
// however long a replica keeps its lease and however many replicas share
// the bucket.
//
// Leases end. A replica spends a lease's tokens only for WriteLeaseTime after it
// took them, and reports and gives back what is left when the lease ends
// (Run) and on shutdown. The stored LeasedUntil is WriteLeaseTime later still
// than the end of the last lease handed out (room for replicas' clocks to
// differ by up to WriteLeaseTime); once it has passed every lease has ended, and
// Leased is forgotten. That is how a replica that died holding a lease
// loses it: its unspent tokens are not refunded (at most one lease, a few
// seconds of refill), and until the next quiet moment (no lease handed out
// for 2·WriteLeaseTime) they keep the bucket that much below capacity; the
// sustained pace, the refill rate, is unchanged.
//
// A token is counted when a replica's pacer hands it to a write, which
// follows within a directory call's time, as before leases.

// budgetName names the write budget of the directory in the BudgetStore.
const budgetName = "directory-writes"

// WriteLeaseTime is how long a replica may spend the tokens of a lease of
// the write budget after taking them; it is also how soon a pause or a
// waiting removal of another replica is seen at the latest.
const WriteLeaseTime = time.Second

const (
	// leaseSpan is how much refill a lease asks for at most.
	leaseSpan = 2 * time.Second
	// pollMin and pollMax bound how long a write waits before asking the
	// database again when the budget is short, so that a replica asks it
	// at most a few times a second, however many writes wait.
	pollMin = 250 * time.Millisecond
	pollMax = time.Second
)

// Bucket is a token bucket every replica shares, as stored. The zero
// Bucket (a new one) is full at its first refill.
type Bucket struct {
	// Tokens is what the bucket held at RefilledAt.
	Tokens     float64
	RefilledAt time.Time
	// PausedUntil is when the directory lets writes through again after
	// it asked to wait.
	PausedUntil time.Time
	// Leased is the tokens handed to replicas and not yet reported spent
	// or given back; LeasedUntil is when every such lease has ended.
	Leased      float64
	LeasedUntil time.Time
	// RemovalsUntil is when the last removal that found the budget short
	// stops waiting: until then no add gets a token.
	RemovalsUntil time.Time
}

// BudgetStore keeps token buckets every replica shares.
type BudgetStore interface {
	// WithBucket runs fn on bucket name (the zero Bucket when there is
	// none yet), locked against every other caller until it returns, and
	// stores what fn leaves in it, in one transaction. When fn fails
	// nothing is stored and its error is returned. fn may be run again
	// when the database asks for the transaction to be retried.
	WithBucket(ctx context.Context, name string, fn func(b *Bucket) error) error
}

// WritePacer spends the directory's write budget (WriteQuota per
// WriteQuotaWindow, shared by every replica through the BudgetStore),
// removals first, from leases of a few tokens held in memory.
type WritePacer struct {
	store     BudgetStore
	clock     Clock
	capacity  float64
	rate      float64 // tokens a second
	reserve   float64
	leaseSize int
	// removing counts the removals of this replica waiting for a token:
	// while there is one, adds wait.
	removing atomic.Int64

	mu sync.Mutex
	// free may be spent by any write, reserved (taken from the reserve)
	// by removals only; both until expires.
	free, reserved int
	expires        time.Time
	// spent counts the tokens handed out since the last report.
	spent int
	// retryAt is when a write of each priority asks the database again
	// after it found the budget short; pausedUntil when writes resume.
	retryAt     [2]time.Time
	pausedUntil time.Time
	fetching    bool          // a call to the store is under way
	changed     chan struct{} // closed and replaced at every change
}

// NewWritePacer returns the pacer of cfg's write budget, or nil when writes
// are not paced (no Budget, or a WriteQuota that is not positive).
func NewWritePacer(cfg *Config) *WritePacer {
	if cfg.Budget == nil || cfg.WriteQuota <= 0 || cfg.WriteQuotaWindow <= 0 {
		return nil
	}
	// Graph counts the writes of a sliding window. A bucket holding the
	// whole quota and refilling at quota/window would let twice the quota
	// through in the first window: it holds a tenth (the burst) and
	// refills the rest over the window, so that no window sees more than
	// the quota, and the sustained pace is 90% of it.
	q := float64(cfg.WriteQuota)
	burst := max(1, math.Floor(q/10))
	rate := max(q-burst, 1) / cfg.WriteQuotaWindow.Seconds()
	reserve := math.Floor(burst * cfg.WriteReserve)
	// A lease is up to leaseSpan's refill, and at most half of what adds
	// may take, so that the burst is shared between replicas.
	lease := int(math.Max(1, math.Min(math.Ceil(rate*leaseSpan.Seconds()), math.Floor((burst-reserve)/2))))
	return &WritePacer{
		store: cfg.Budget, clock: cfg.Clock, capacity: burst, rate: rate,
		reserve: reserve, leaseSize: lease, changed: make(chan struct{}),
	}
}

// errBudget is a write that waited for the budget as long as it could.
var errBudget = errors.New("the directory's write budget is spent")

// leaseAsk is one call to the stored bucket: report spent tokens, give back
// unspent ones, take up to want at priority prio, and pause the bucket
// until pause (when not zero).
type leaseAsk struct {
	now            time.Time
	spent, unspent int
	// want is what the lease asks for, need (at most want) what the
	// write waiting for it needs.
	want, need int
	prio       WritePriority
	pause      time.Time
}

// leaseGot is what the bucket answered: tokens any write may spend, tokens
// only removals may, and when fewer than needed, how long until asking
// again makes sense; pausedUntil is the bucket's pause.
type leaseGot struct {
	free, reserved int
	wait           time.Duration
	pausedUntil    time.Time
}

// settle applies a to b: the bucket arithmetic, run with b locked.
func (p *WritePacer) settle(b *Bucket, a leaseAsk) leaseGot {
	now := a.now
	// Refill as of now, never above what the leases leave. A replica
	// whose clock is behind the last refill refills nothing.
	room := math.Max(0, p.capacity-b.Leased)
	switch {
	case b.RefilledAt.IsZero():
		b.Tokens, b.RefilledAt = room, now
	case now.After(b.RefilledAt):
		b.Tokens = math.Min(room, b.Tokens+p.rate*now.Sub(b.RefilledAt).Seconds())
		b.RefilledAt = now
	}
	if !b.LeasedUntil.IsZero() && !now.Before(b.LeasedUntil) {
		b.Leased, b.LeasedUntil = 0, time.Time{}
	}
	// The caller's last lease: spent tokens leave Leased, unspent ones go
	// back to the bucket.
	b.Leased = math.Max(0, b.Leased-float64(a.spent+a.unspent))
	b.Tokens = math.Min(math.Max(0, p.capacity-b.Leased), b.Tokens+float64(a.unspent))
	if a.pause.After(b.PausedUntil) {
		b.PausedUntil = a.pause
	}
	got := leaseGot{pausedUntil: b.PausedUntil}
	if a.want < 1 {
		return got
	}
	if now.Before(b.PausedUntil) {
		got.wait = b.PausedUntil.Sub(now)
		return got
	}
	floor := 0.0
	if a.prio == PriorityAdd {
		if now.Before(b.RemovalsUntil) {
			got.wait = b.RemovalsUntil.Sub(now)
			return got
		}
		floor = p.reserve
	}
	k := int(math.Max(0, math.Min(float64(a.want), math.Floor(b.Tokens-floor))))
	if short := max(a.need, 1) - k; short > 0 {
		// The time until one more token above the floor.
		got.wait = time.Duration((floor + 1 - (b.Tokens - float64(k))) / p.rate * float64(time.Second))
		if a.prio == PriorityRemove {
			// Adds of every replica leave the refill to this removal
			// until it asks again, and a lease time more.
			until := now.Add(clampWait(got.wait) + WriteLeaseTime)
			if until.After(b.RemovalsUntil) {
				b.RemovalsUntil = until
			}
		}
	}
	if k == 0 {
		return got
	}
	above := int(math.Max(0, math.Floor(b.Tokens-p.reserve)))
	got.free = min(k, above)
	got.reserved = k - got.free
	b.Tokens -= float64(k)
	b.Leased += float64(k)
	if until := now.Add(2 * WriteLeaseTime); until.After(b.LeasedUntil) {
		b.LeasedUntil = until
	}
	return got
}

// laterOf returns the later of a and b.
func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// clampWait bounds a wait for tokens between pollMin and pollMax.
func clampWait(d time.Duration) time.Duration { return min(max(d, pollMin), pollMax) }

// ask runs a on the stored bucket.
func (p *WritePacer) ask(ctx context.Context, a leaseAsk) (leaseGot, error) {
	var got leaseGot
	err := p.store.WithBucket(ctx, budgetName, func(b *Bucket) error {
		got = p.settle(b, a)
		return nil
	})
	if err != nil {
		return leaseGot{}, fmt.Errorf("write budget: %w", err)
	}
	return got, nil
}

// signalLocked wakes every write waiting for a change.
func (p *WritePacer) signalLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// spendLocked hands out up to n tokens of the lease at priority prio.
func (p *WritePacer) spendLocked(now time.Time, prio WritePriority, n int) int {
	if !now.Before(p.expires) || now.Before(p.pausedUntil) {
		return 0
	}
	var k int
	if prio == PriorityAdd {
		if p.removing.Load() > 0 {
			return 0
		}
		k = min(n, p.free)
		p.free -= k
	} else {
		k = min(n, p.free+p.reserved)
		r := min(k, p.reserved)
		p.reserved -= r
		p.free -= k - r
	}
	p.spent += k
	return k
}

// handOverLocked takes the lease and the spent count out of the pacer, to
// report them to the store.
func (p *WritePacer) handOverLocked() (spent, unspent int) {
	spent, unspent = p.spent, p.free+p.reserved
	p.spent, p.free, p.reserved = 0, 0, 0
	return spent, unspent
}

// exchangeLocked reports the lease in hand and the tokens spent to the
// store along with the rest of a, and returns what the store gave. p.mu is
// held on entry and on return, and released during the call, while no
// other call to the store starts (fetching). When the store fails, what
// was reported is put back, so that the next call reports it.
func (p *WritePacer) exchangeLocked(ctx context.Context, a leaseAsk) (leaseGot, error) {
	p.fetching = true
	a.spent, a.unspent = p.handOverLocked()
	p.mu.Unlock()
	got, err := p.ask(ctx, a)
	p.mu.Lock()
	p.fetching = false
	if err != nil {
		p.restoreLocked(a.spent, a.unspent)
	}
	return got, err
}

// restoreLocked puts back what handOverLocked took when the store failed,
// so that the next call reports it.
func (p *WritePacer) restoreLocked(spent, unspent int) {
	p.spent += spent
	p.reserved += unspent
}

// Take waits until it can take at least one and at most n write tokens at
// priority prio and returns how many it took. It gives up with ctx.
func (p *WritePacer) Take(ctx context.Context, prio WritePriority, n int) (int, error) {
	if n < 1 {
		return 0, fmt.Errorf("take %d write tokens: at least one", n)
	}
	if prio == PriorityRemove {
		p.removing.Add(1)
		defer func() {
			p.removing.Add(-1)
			p.mu.Lock()
			p.signalLocked()
			p.mu.Unlock()
		}()
	}
	for {
		p.mu.Lock()
		now := p.clock.Now()
		held := p.free
		if prio == PriorityRemove {
			held += p.reserved
		}
		// Spend from the lease when it covers n, or when asking the store
		// again is not due yet.
		canAsk := !p.fetching && !now.Before(p.retryAt[prio]) && !now.Before(p.pausedUntil) &&
			(prio == PriorityRemove || p.removing.Load() == 0)
		if held >= n || !canAsk {
			if k := p.spendLocked(now, prio, n); k > 0 {
				p.mu.Unlock()
				return k, nil
			}
		}
		if canAsk {
			got, err := p.exchangeLocked(ctx, leaseAsk{now: now, want: max(n, p.leaseSize), need: n, prio: prio})
			if err != nil {
				p.signalLocked()
				p.mu.Unlock()
				return 0, fmt.Errorf("take write budget: %w", err)
			}
			p.free, p.reserved = got.free, got.reserved
			p.expires = now.Add(WriteLeaseTime)
			if got.pausedUntil.After(p.pausedUntil) {
				p.pausedUntil = got.pausedUntil
			}
			if got.wait > 0 {
				// Short of what this write needs: ask again only once
				// more has refilled (or the pause has ended).
				at := now.Add(clampWait(got.wait))
				if now.Before(got.pausedUntil) {
					at = got.pausedUntil
				}
				p.retryAt[prio] = at
				if prio == PriorityRemove && at.After(p.retryAt[PriorityAdd]) {
					p.retryAt[PriorityAdd] = at
				}
			}
			p.signalLocked()
			// What the store gave is spent at once, however little.
			k := p.spendLocked(now, prio, n)
			p.mu.Unlock()
			if k > 0 {
				return k, nil
			}
			continue
		}
		// Wait for the next change, or until asking is due.
		at := now.Add(pollMax)
		due := false
		if t := laterOf(p.retryAt[prio], p.pausedUntil); t.After(now) && !p.fetching {
			at, due = t, true
		}
		ch := p.changed
		p.mu.Unlock()
		t := p.clock.TimerAt(at)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("%w: %w", errBudget, ctx.Err())
		case <-ch:
			t.Stop()
		case <-t.C():
			if due {
				// Asking is due, whatever the clock says now.
				p.mu.Lock()
				p.retryAt[prio] = time.Time{}
				p.mu.Unlock()
			}
		}
	}
}

// Give returns n tokens taken and not used to the lease. Tokens taken
// before the lease was last reported count as spent.
func (p *WritePacer) Give(n int) {
	if n <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := min(n, p.spent)
	p.spent -= k
	// Given back by whichever write: removals only, so that an add never
	// spends a token that came from the reserve.
	p.reserved += k
	p.signalLocked()
}

// Pause stops every replica's writes until until: this one's at once, the
// others' at their next call to the store (within WriteLeaseTime). It gives
// back the lease.
func (p *WritePacer) Pause(ctx context.Context, until time.Time) error {
	p.mu.Lock()
	if until.After(p.pausedUntil) {
		p.pausedUntil = until
	}
	spent, unspent := p.handOverLocked()
	p.signalLocked()
	p.mu.Unlock()
	if _, err := p.ask(ctx, leaseAsk{now: p.clock.Now(), spent: spent, unspent: unspent, pause: until}); err != nil {
		p.mu.Lock()
		p.restoreLocked(spent, unspent)
		p.mu.Unlock()
		return fmt.Errorf("pause directory writes: %w", err)
	}
	return nil
}

// Run gives back what is left of each lease once it has ended, until ctx
// is cancelled, and then the lease in hand.
func (p *WritePacer) Run(ctx context.Context) {
	for {
		p.mu.Lock()
		held := p.free+p.reserved+p.spent > 0
		expires, ch := p.expires, p.changed
		p.mu.Unlock()
		var fire <-chan time.Time
		var t Timer
		if held {
			t = p.clock.TimerAt(expires)
			fire = t.C()
		}
		select {
		case <-ctx.Done():
			if t != nil {
				t.Stop()
			}
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = p.endLease(sctx, true)
			cancel()
			return
		case <-ch:
			if t != nil {
				t.Stop()
			}
		case <-fire:
			if err := p.endLease(ctx, false); err != nil && ctx.Err() == nil {
				// Try again a lease time later.
				t := p.clock.TimerAt(p.clock.Now().Add(WriteLeaseTime))
				select {
				case <-ctx.Done():
					t.Stop()
				case <-t.C():
				}
			}
		}
	}
}

// endLease reports and gives back the lease in hand, if it has ended (or
// always, when now is set) and no call to the store is under way.
func (p *WritePacer) endLease(ctx context.Context, now bool) error {
	p.mu.Lock()
	at := p.clock.Now()
	if p.fetching || (!now && at.Before(p.expires)) || p.free+p.reserved+p.spent == 0 {
		p.mu.Unlock()
		return nil
	}
	_, err := p.exchangeLocked(ctx, leaseAsk{now: at})
	p.signalLocked()
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("give back the write lease: %w", err)
	}
	return nil
}

// paceWrite takes one write token at priority prio (nothing without a
// pacer), waiting at most as long as ctx allows.
func (s *Service) paceWrite(ctx context.Context, prio WritePriority) error {
	if s.pacer == nil {
		return nil
	}
	_, err := s.pacer.Take(ctx, prio, 1)
	return err
}
