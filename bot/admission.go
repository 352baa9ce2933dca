package bot

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"time"
)

// Activities whose token the bot has not checked before (a new channel
// token, or a forged one) are checked a few at a time, so that a flood of
// forged tokens cannot take the CPU from activities whose token was
// already checked: those skip the queue.
const (
	// maxUnknownWaiting is how many such activities may wait for a slot;
	// beyond it they are answered 503 at once.
	maxUnknownWaiting = 512
	// unknownWait is how long one waits for a slot before it is answered 503.
	unknownWait = 5 * time.Second
)

// admission bounds the activities with an unknown token checked at once.
type admission struct {
	slots   chan struct{}
	waiting atomic.Int64
}

// newAdmission returns an admission with one slot per CPU the Go runtime
// uses.
func newAdmission() *admission {
	return &admission{slots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))}
}

// acquire waits for a slot, at most unknownWait or until ctx ends, and
// returns its release; ok is false when no slot came (or too many wait).
func (a *admission) acquire(ctx context.Context) (release func(), ok bool) {
	select {
	case a.slots <- struct{}{}:
		return a.release, true
	default:
	}
	if a.waiting.Add(1) > maxUnknownWaiting {
		a.waiting.Add(-1)
		return nil, false
	}
	defer a.waiting.Add(-1)
	t := time.NewTimer(unknownWait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		return a.release, true
	case <-ctx.Done():
	case <-t.C:
	}
	return nil, false
}

func (a *admission) release() { <-a.slots }

// errBusy is an activity refused because too many activities with
// unchecked tokens wait.
var errBusy = errors.New("too many activities with unchecked tokens wait")
