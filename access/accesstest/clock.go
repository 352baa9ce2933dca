// Package accesstest holds test doubles for the access domain's own
// interfaces: a clock that moves only when told, a notifier that records
// what it would have said, and a store kept in memory with the database
// store's semantics. Fakes of outside systems live with the package that
// talks to them (graph/graphtest, bot/connectortest), or in
// internal/entratest for Microsoft Entra ID, which both of those talk to.
package accesstest

import (
	"sync"
	"time"

	"github.com/jitbot/jitbot/access"
)

// Clock is a manually advanced clock. Timers fire when Advance passes their
// deadline.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

// NewClock returns a clock set to start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// TimerAt returns a timer that fires when the clock reaches at.
func (c *Clock) TimerAt(at time.Time) access.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: at, c: make(chan time.Time, 1)}
	if !at.After(c.now) {
		t.fired = true
		t.c <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock forward and fires the timers that fell due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.stopped() {
			continue
		}
		if !t.at.After(c.now) {
			t.fire(c.now)
			continue
		}
		kept = append(kept, t)
	}
	c.timers = kept
}

// Set moves the clock to t (forward only) and fires due timers.
func (c *Clock) Set(t time.Time) {
	if d := t.Sub(c.Now()); d > 0 {
		c.Advance(d)
	}
}

// Timers returns how many timers are armed and not stopped.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped() {
			n++
		}
	}
	return n
}

type timer struct {
	mu     sync.Mutex
	at     time.Time
	c      chan time.Time
	fired  bool
	halted bool
}

func (t *timer) C() <-chan time.Time { return t.c }

func (t *timer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := !t.fired && !t.halted
	t.halted = true
	return was
}

func (t *timer) stopped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.halted || t.fired
}

func (t *timer) fire(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fired || t.halted {
		return
	}
	t.fired = true
	t.c <- now
}
