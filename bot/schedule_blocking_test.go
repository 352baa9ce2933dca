package bot_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/jitbot/jitbot/access"
)

// TestAFailingStartHoldsBackNoOther: the scheduler starts the due
// requests oldest start first; one whose start fails (its requester was
// deleted from the directory, so the eligibility check at the start gets
// an error) is left for the next look, and the starts after it still
// happen on time.
func TestAFailingStartHoldsBackNoOther(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.graph.AddMember(requesterGrp, samID)
	first := w.scheduled("request prod-db 2h at 22:00 INC-4711 nightly orders migration")

	act := w.message(sam, "request prod-db 1h at 22:30 INC-4712 reindex after the migration")
	act["localTimezone"] = "Europe/Berlin"
	if code, _ := w.post(act); code != http.StatusOK {
		t.Fatalf("sam's request: HTTP %d", code)
	}
	open, err := w.db.OpenRequests(ctx, samID)
	if err != nil || len(open) != 1 {
		t.Fatalf("sam's open requests: %v %v", open, err)
	}
	second := open[0]
	if code, _ := w.post(w.click(alex, "approve", second.ID, nil)); code != http.StatusOK {
		t.Fatalf("approve: HTTP %d", code)
	}

	w.graph.DeleteUser(rileyID)
	w.clock.Set(second.StartsAt)
	_, _ = w.svc.WorkStarts(ctx)
	if got, _ := w.db.GetRequest(ctx, second.ID); got.State != access.RequestApproved && got.State != access.RequestActive {
		t.Fatalf("sam's start after a failing one: %s, want started", got.State)
	}
	if !w.graph.IsMember(prodGroup, samID) {
		t.Fatal("sam is not a member at the start")
	}
	if got, _ := w.db.GetRequest(ctx, first.ID); got.State != access.RequestScheduled {
		t.Fatalf("the failing start: %s, want still scheduled for the next look", got.State)
	}
}
