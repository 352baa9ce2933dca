package bot_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/cards"
	"github.com/jitbot/jitbot/graph/graphtest"
	"github.com/jitbot/jitbot/internal/entratest"
)

const adminGrp = "aaaaaaaa-0000-4000-8000-00000000000a"

func TestForceApproveByAnAdmin(t *testing.T) {
	w := newWorld(t)
	w.graph.AddUser(danaID)
	w.graph.AddGroup(adminGrp)
	w.graph.AddMember(adminGrp, danaID)
	w.reconfigure(func(c *access.Config) { c.AdminGroups = []string{adminGrp} })
	if code, _ := w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike")); code != http.StatusOK {
		t.Fatalf("request: HTTP %d", code)
	}
	req := w.onlyRequest()

	// Only an admin's own card has Force approve, with the reason.
	v := w.viewOf(w.post(w.refresh(dana, req.ID)))
	if !slices.Equal(v.verbs, []string{cards.VerbForceApprove}) || !slices.Equal(v.inputs, []string{cards.InputReason}) {
		t.Fatalf("admin's card: verbs %v inputs %v", v.verbs, v.inputs)
	}
	for _, p := range []person{alex, eve, riley} {
		if v := w.viewOf(w.post(w.refresh(p, req.ID))); slices.Contains(v.verbs, cards.VerbForceApprove) {
			t.Fatalf("%s's card has Force approve", p.name)
		}
	}
	if _, channel := w.approvalThread(); strings.Contains(cardJSON(channel), cards.VerbForceApprove) {
		t.Fatal("the channel's card has Force approve")
	}

	// Refused: not an admin (an approver neither), the requester, no
	// reason. Nothing changes.
	reason := map[string]any{cards.InputReason: "SEV1, approvers unreachable"}
	for _, tc := range []struct {
		who   person
		extra map[string]any
		want  string
		audit bool
	}{
		{alex, reason, "Only a jitbot admin can force-approve", true},
		{eve, reason, "Only a jitbot admin can force-approve", true},
		{riley, reason, "cannot force-approve your own request", true},
		{dana, nil, "Say why you force-approve", true},
	} {
		writes := w.writes()
		note, _ := w.viewIn(w.post(w.click(tc.who, cards.VerbForceApprove, req.ID, tc.extra)))
		if !strings.Contains(note, tc.want) {
			t.Fatalf("%s's force approve: note %q", tc.who.name, note)
		}
		if got := w.auditBy(req.ID, access.ActionForceRefused, tc.who.id); got != map[bool]int{true: 1, false: 0}[tc.audit] {
			t.Fatalf("%s's refusal audited %d times", tc.who.name, got)
		}
		if w.writes() != writes || w.onlyRequest().State != access.RequestPending || w.graph.CountFor(graphtest.RouteAddMember, prodGroup, "") != 0 {
			t.Fatalf("%s's refused force approve changed something", tc.who.name)
		}
	}

	w.clock.Advance(3 * time.Minute)
	v = w.viewOf(w.post(w.click(dana, cards.VerbForceApprove, req.ID, reason)))
	if v.note != "" || slices.Contains(v.verbs, cards.VerbForceApprove) || !strings.Contains(v.body, "Force-approved by ") ||
		!strings.Contains(v.body, "Dana Duty") || !strings.Contains(v.body, "SEV1, approvers unreachable") {
		t.Fatalf("card after force approve: %q %v %s", v.note, v.verbs, v.body)
	}
	if !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("riley is not a member after the force-approval")
	}
	got := w.onlyRequest()
	if d := got.LastDecision(); d == nil || !d.Forced || d.Approver.ObjectID != danaID || d.Reason != "SEV1, approvers unreachable" {
		t.Fatalf("stored decision %+v", d)
	}
	if w.auditBy(req.ID, access.ActionForceApproved, danaID) != 1 {
		t.Fatal("request.force_approved by dana not audited")
	}
	if texts := w.texts("a:personal-" + rileyID); !strings.Contains(texts, "force-approved by Dana Duty") || !strings.Contains(texts, "SEV1, approvers unreachable") {
		t.Fatalf("requester not told of the force-approval:\n%s", texts)
	}
	if _, channel := w.approvalThread(); !strings.Contains(cardJSON(channel), "Force-approved by ") {
		t.Fatalf("the channel's card does not say force-approved: %s", cardJSON(channel))
	}
	// A second click changes nothing.
	note, _ := w.viewIn(w.post(w.click(dana, cards.VerbForceApprove, req.ID, reason)))
	if !strings.Contains(note, "already decided") || w.auditBy(req.ID, access.ActionForceApproved, danaID) != 1 {
		t.Fatalf("second force approve: %q", note)
	}
	// Refused as no longer pending, and on record (the first was the
	// missing reason).
	if n := w.auditBy(req.ID, access.ActionForceRefused, danaID); n != 2 {
		t.Fatalf("dana's refused force approvals audited %d times, want 2", n)
	}
}

// An admin in the approvers' team is in the card's refresh.userIds, so
// that Teams asks for their own view, which has Force approve.
func TestAdminsGetTheirOwnView(t *testing.T) {
	w := newWorld(t)
	w.graph.AddUser(danaID)
	w.graph.AddGroup(adminGrp)
	w.graph.AddMember(adminGrp, danaID)
	w.reconfigure(func(c *access.Config) { c.AdminGroups = []string{adminGrp} })
	w.withAudience().AdminGroups = []string{adminGrp}
	w.conn.SetRoster(channelID, member(eve), member(dana), member(alex), member(riley))
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	_, card := w.approvalThread()
	if got, want := refreshIDs(card), []string{teamsID(riley), teamsID(dana), teamsID(alex)}; !slices.Equal(got, want) {
		t.Fatalf("refresh.userIds %v, want %v", got, want)
	}
}

// On a step-up profile an admin's Force approve asks for the same fresh
// sign-in as Approve: without a token Teams is asked to sign them in, and
// nothing changes; with a fresh token carrying the context it counts.
func TestForceApproveOnAStepUpProfileNeedsTheSignIn(t *testing.T) {
	w, authority, api := stepUpWorld(t)
	w.graph.AddUser(danaID)
	w.graph.AddGroup(adminGrp)
	w.graph.AddMember(adminGrp, danaID)
	w.reconfigure(func(c *access.Config) { c.AdminGroups = []string{adminGrp} })
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()
	reason := map[string]any{cards.InputReason: "SEV1"}
	writes := w.writes()
	code, resp := w.post(w.click(dana, cards.VerbForceApprove, req.ID, reason))
	if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.activity.loginRequest" {
		t.Fatalf("force approve without a token: HTTP %d %v; want a loginRequest", code, resp)
	}
	if w.onlyRequest().State != access.RequestPending || w.writes() != writes || w.auditBy(req.ID, access.ActionForceRefused, danaID) != 1 {
		t.Fatal("a force approve without the sign-in changed something or was not audited")
	}
	token := authority.UserToken(t, api, danaID, ssoScope, w.clock.Now(), entratest.WithAuthContexts("c1"))
	v := w.viewOf(w.post(withToken(w.click(dana, cards.VerbForceApprove, req.ID, reason), token)))
	if !strings.Contains(v.body, "Force-approved by ") || !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatalf("force approve with a fresh token: %q %s", v.note, v.body)
	}
}

// A force-approval settles a request whatever its quorum: one approver of
// two approved, the admin's Force approve makes the grant.
func TestForceApproveAgainstAQuorum(t *testing.T) {
	w := newWorld(t)
	w.graph.AddUser(danaID)
	w.graph.AddGroup(adminGrp)
	w.graph.AddMember(adminGrp, danaID)
	w.reconfigure(func(c *access.Config) { c.AdminGroups = []string{adminGrp}; c.Profiles[0].RequiredApprovals = 2 })
	w.post(w.message(riley, "request prod-db 2h INC-4711 checkout latency spike"))
	req := w.onlyRequest()
	w.post(w.click(alex, cards.VerbApprove, req.ID, nil))
	if got := w.onlyRequest(); got.State != access.RequestPending || len(got.Decisions) != 1 {
		t.Fatalf("after one of two approvals: %s, %d decisions", got.State, len(got.Decisions))
	}
	v := w.viewOf(w.post(w.click(dana, cards.VerbForceApprove, req.ID, map[string]any{cards.InputReason: "SEV1"})))
	if !strings.Contains(v.body, "Force-approved by ") || !w.graph.IsMember(prodGroup, rileyID) || w.onlyRequest().State != access.RequestActive {
		t.Fatalf("force approve against the quorum: %q %s", v.note, v.body)
	}
	if w.auditBy(req.ID, access.ActionForceApproved, danaID) != 1 {
		t.Fatal("request.force_approved not audited")
	}
}
