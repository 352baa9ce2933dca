package cards

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

var deadlineAt = requestedAt.Add(time.Hour) // 15:05:00Z

func withDeadlineRequest() *access.Request {
	r := pendingRequest()
	r.DecideBy = deadlineAt
	return r
}

func cancelledRequest() *access.Request {
	r := withDeadlineRequest()
	r.State, r.UpdatedAt = access.RequestCancelled, decidedAt
	return r
}

func timedOutRequest() *access.Request {
	r := withDeadlineRequest()
	r.State, r.UpdatedAt = access.RequestTimedOut, deadlineAt
	return r
}

func pendingGoldens() map[string]Card {
	prod := profileProdDB()
	return map[string]Card{
		"approval_pending_deadline": Approval(withDeadlineRequest(), prod, refreshUsers),
		"approval_cancelled":        Approval(cancelledRequest(), prod, refreshUsers),
		"approval_timed_out":        Approval(timedOutRequest(), prod, refreshUsers),
		"submitted_cancelled":       Submitted(cancelledRequest(), nil),
		"submitted_timed_out":       Submitted(timedOutRequest(), nil),
	}
}

func TestClosedApprovalCardsHaveNoButtons(t *testing.T) {
	for name, tc := range map[string]struct {
		req  *access.Request
		says string
	}{
		"cancelled": {cancelledRequest(), "Cancelled by the requester"},
		"timed out": {timedOutRequest(), "Expired without a decision"},
	} {
		c := Approval(tc.req, profileProdDB(), refreshUsers)
		m := decode(t, c)
		if bs := buttons(m); len(bs) != 0 {
			t.Errorf("%s: %d actions, want none", name, len(bs))
		}
		if raw := string(render(t, c)); !strings.Contains(raw, tc.says) || strings.Contains(raw, "Input.") {
			t.Errorf("%s: the card does not say %q, or has inputs", name, tc.says)
		}
		if s := Submitted(tc.req, nil); len(s.Actions) != 0 {
			t.Errorf("%s: the requester's card keeps %d buttons", name, len(s.Actions))
		}
	}
}

func TestSubmittedHasCancel(t *testing.T) {
	req := pendingRequest()
	bs := buttons(decode(t, Submitted(req, nil)))
	if len(bs) != 1 {
		t.Fatalf("%d actions, want Cancel only: %v", len(bs), bs)
	}
	b := bs[0]
	if b["type"] != "Action.Execute" || b["verb"] != VerbCancel || !reflect.DeepEqual(b["data"], map[string]any{DataRequestID: req.ID}) {
		t.Fatalf("cancel action: %v", b)
	}
}
