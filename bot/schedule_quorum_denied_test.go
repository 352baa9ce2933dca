package bot_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/access"
)

// TestScheduledQuorumRequestDeniedBeforeItsQuorum: a scheduled sev3
// request (two approvals needed) that one approver approved and the other
// denies was denied, never approved ahead: the card and the requester say
// so, not that it was revoked before its start.
func TestScheduledQuorumRequestDeniedBeforeItsQuorum(t *testing.T) {
	w := newWorld(t)
	w.withPolicy()
	if code, _ := w.post(w.inZone("request prod-db 2h sev3 at 22:00 INC-7 schema migration", "Europe/Berlin")); code != http.StatusOK {
		t.Fatalf("request: HTTP %d", code)
	}
	req := w.onlyRequest()
	w.post(w.click(alex, "approve", req.ID, nil))
	_, resp := w.post(w.click(sam, "deny", req.ID, map[string]any{"reason": "not tonight"}))
	if got := w.stored(req.ID); got.State != access.RequestDenied {
		t.Fatalf("after the denial: %s", got.State)
	}
	if c := cardJSON(resp["value"]); strings.Contains(c, "Revoked before its start") {
		t.Errorf("the approver's card says revoked before its start: %s", c)
	}
	_, card := w.approvalThread()
	if c := cardJSON(card); strings.Contains(c, "Revoked before its start") || !strings.Contains(c, "Denied") {
		t.Errorf("the approval card: %s", c)
	}
	if texts := w.texts("a:personal-" + rileyID); strings.Contains(texts, "before its start") || !strings.Contains(texts, "denied") {
		t.Errorf("the requester was told:\n%s", texts)
	}
}
