package access

import (
	"context"
	"errors"
	"runtime"
	"sync"
)

// maxFinishBatch bounds how many finished removals one transaction records.
const maxFinishBatch = 64

// finisher records finished removals in groups (group commit): a worker
// whose member was removed hands the grant over and waits until its
// revocation is committed. The first to arrive while no commit runs
// commits what has gathered, again and again until nothing waits, so that
// removals finishing together share one transaction (FinishRevokes) and
// none waits for a timer.
type finisher struct {
	mu    sync.Mutex
	queue []*finishing
	busy  bool
}

// finishing is one grant waiting for its revocation to be committed.
type finishing struct {
	step RevokeStep
	out  RevokeOutcome
	done chan struct{}
}

// errFinisherPanicked is the outcome of the grants whose commit panicked.
var errFinisherPanicked = errors.New("recording the revocation panicked")

// finish records that the member of step.Grant was removed, as FinishRevoke
// does, in a transaction with those finished at the same time, and returns
// its outcome (see FinishRevokes) once that transaction has ended.
func (s *Service) finish(ctx context.Context, step RevokeStep) (RevokeOutcome, error) {
	f := &s.finisher
	w := &finishing{step: step, done: make(chan struct{})}
	f.mu.Lock()
	f.queue = append(f.queue, w)
	if !f.busy {
		f.busy = true
		f.mu.Unlock()
		// Removals answered in one Graph batch finish together: let the
		// other workers woken by it hand theirs over first.
		runtime.Gosched()
		s.commitFinished(ctx)
	} else {
		f.mu.Unlock()
	}
	<-w.done
	return w.out, w.out.Err
}

// commitFinished commits the waiting revocations until none waits.
func (s *Service) commitFinished(ctx context.Context) {
	f := &s.finisher
	var batch []*finishing
	defer func() {
		if p := recover(); p != nil {
			f.mu.Lock()
			rest := append(batch, f.queue...)
			f.queue, f.busy = nil, false
			f.mu.Unlock()
			for _, w := range rest {
				w.out = RevokeOutcome{Err: errFinisherPanicked}
				close(w.done)
			}
			panic(p)
		}
	}()
	for {
		f.mu.Lock()
		if len(f.queue) == 0 {
			f.busy = false
			f.mu.Unlock()
			return
		}
		batch = f.queue[:min(len(f.queue), maxFinishBatch)]
		f.queue = f.queue[len(batch):]
		f.mu.Unlock()
		steps := make([]RevokeStep, len(batch))
		for i, w := range batch {
			steps[i] = w.step
		}
		out := FinishRevokes(ctx, s.cfg.Store, s.cfg.Owner, steps)
		for i, w := range batch {
			w.out = out[i]
			close(w.done)
		}
		batch = nil
	}
}
