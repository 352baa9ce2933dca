package access

import (
	"context"
	"time"
)

// wakeSettle is how long after a pass of the scheduler a Wake waits before
// the next pass. A Wake only says that something changed (a grant stored,
// a request decided), so that the scheduler re-arms its timer: under a
// burst of approvals every one wakes it, and a pass runs about a dozen
// queries. Wakes that arrive within wakeSettle of the last pass are served
// together by one pass at its end; the first Wake after a quiet spell is
// served at once. It is measured on the machine's clock, not the
// Service's: it bounds the work the scheduler does, and says nothing of
// when a grant is due (a timer that fires runs its pass at once).
const wakeSettle = 20 * time.Millisecond

// settleWake waits, after a Wake, until wakeSettle has passed since the
// pass that ended at passEnd, then takes the Wakes that arrived meanwhile:
// the pass that follows reads the state they announced. It returns early
// when ctx is cancelled.
func (s *Service) settleWake(ctx context.Context, passEnd time.Time) {
	if d := wakeSettle - time.Since(passEnd); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	select {
	case <-s.wake:
	default:
	}
}
