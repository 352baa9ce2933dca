package cards

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/access"
)

func forcedRequest() *access.Request {
	r := activeRequest()
	r.Decisions[0].Forced, r.Decisions[0].Reason = true, "SEV1, approvers unreachable"
	return r
}

func forceGoldens() map[string]Card {
	prod := profileProdDB()
	admin := access.Viewer{Admin: true, May: access.CanForceApprove}
	both := access.Viewer{Approver: true, Admin: true, May: access.CanApprove | access.CanDeny | access.CanForceApprove}
	return map[string]Card{
		"approval_admin_pending":          Approval(pendingRequest(), prod, viewed(admin, "")),
		"approval_approver_admin_pending": Approval(pendingRequest(), prod, viewed(both, "")),
		"approval_force_approved":         Approval(forcedRequest(), prod, refreshUsers),
	}
}

// Force approve sends the one reason input, which it requires; an admin
// who also decides shares it with Deny; a forced approval says so.
func TestForceApproveCard(t *testing.T) {
	g := forceGoldens()
	for name, want := range map[string]int{"approval_admin_pending": 1, "approval_approver_admin_pending": 1} {
		c := string(render(t, g[name]))
		if n := strings.Count(c, `"id": "reason"`); n != want || !strings.Contains(c, `"verb": "forceApprove"`) {
			t.Fatalf("%s: %d reason inputs, force approve %v", name, n, strings.Contains(c, "forceApprove"))
		}
	}
	if c := string(render(t, g["approval_force_approved"])); !strings.Contains(c, "Force-approved by ") || !strings.Contains(c, "SEV1, approvers unreachable") {
		t.Fatalf("forced approval: %s", c)
	}
	if c := string(render(t, Approval(activeRequest(), profileProdDB(), refreshUsers))); strings.Contains(c, "Force-approved") {
		t.Fatal("an ordinary approval says force-approved")
	}
}
