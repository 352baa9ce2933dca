package cards

import (
	"strings"
	"testing"
)

func escalationGoldens() map[string]Card {
	r := pendingRequest()
	r.EscalatedAt = decidedAt
	return map[string]Card{"approval_escalated": Approval(r, profileProdDB(), refreshUsers)}
}

// An escalated request's card says so, and still has the decision buttons.
func TestEscalatedCard(t *testing.T) {
	c := string(render(t, escalationGoldens()["approval_escalated"]))
	if !strings.Contains(c, "Escalated at {{DATE(2026-11-23T14:08:00Z, SHORT)}}") || !strings.Contains(c, `"verb": "approve"`) {
		t.Fatalf("escalated card: %s", c)
	}
	if strings.Contains(string(render(t, Approval(pendingRequest(), profileProdDB(), refreshUsers))), "Escalated") {
		t.Fatal("a request not escalated says it was")
	}
}
