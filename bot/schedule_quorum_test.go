package bot_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// TestScheduledQuorumApprovalsAtOnce: the two approvals a scheduled sev3
// request needs, clicked at once, leave it scheduled once (one
// request.approved, nothing added), and its start adds the member once.
func TestScheduledQuorumApprovalsAtOnce(t *testing.T) {
	for round := 0; round < 3; round++ {
		w := newWorld(t)
		w.withPolicy()
		if code, _ := w.post(w.inZone("request prod-db 2h sev3 at 22:00 INC-7 schema migration", "Europe/Berlin")); code != http.StatusOK {
			t.Fatalf("request: HTTP %d", code)
		}
		req := w.onlyRequest()
		if !req.StartsAt.Equal(scheduledAt) {
			t.Fatalf("start %v, want %v", req.StartsAt, scheduledAt)
		}
		var wg sync.WaitGroup
		for _, p := range []person{alex, sam} {
			wg.Add(1)
			go func(p person) {
				defer wg.Done()
				if code, _ := w.post(w.click(p, "approve", req.ID, nil)); code != http.StatusOK {
					t.Errorf("%s's approval: HTTP %d", p.name, code)
				}
			}(p)
		}
		wg.Wait()
		got := w.stored(req.ID)
		if got.State != access.RequestScheduled || got.Grant != nil || len(access.Approvals(got)) != 2 {
			t.Fatalf("round %d: %s with %d approvals, grant %v; want scheduled with 2 and no grant", round, got.State, len(access.Approvals(got)), got.Grant)
		}
		if w.auditBy(req.ID, access.ActionApproved, alexID)+w.auditBy(req.ID, access.ActionApproved, samID) != 1 {
			t.Fatalf("round %d: want exactly one request.approved", round)
		}
		w.nothingAdded("approved ahead by a quorum")
		w.clock.Set(scheduledAt)
		if _, err := w.svc.WorkStarts(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := w.graph.CountFor(graphtest.RouteAddMember, prodGroup, rileyID); n != 1 {
			t.Fatalf("round %d: %d add-member calls at the start, want 1", round, n)
		}
	}
}
