package bot_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/cards"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// oncallGroup is the on-call rota of the auto-approval tests.
const oncallGroup = "aaaaaaaa-0000-4000-8000-0000000000c1"

// withPolicy gives prod-db the README's worked example: sev1 auto-approved
// for the on-call group up to 1h (sev1 requests up to 2h), sev2 one
// approver, sev3 two.
func (w *world) withPolicy() {
	w.t.Helper()
	w.graph.AddGroup(oncallGroup)
	w.reconfigure(func(c *access.Config) {
		p := c.Profiles[0]
		p.Severities = []string{"sev1", "sev2", "sev3"}
		p.SeverityRules = map[string]access.SeverityRule{
			"sev1": {MaxDuration: 2 * time.Hour, AutoApprove: &access.AutoApprove{Groups: []string{oncallGroup}, MaxDuration: time.Hour}},
			"sev3": {RequiredApprovals: 2},
		}
		c.Profiles = []access.Profile{p}
	})
}

// stored is the request as the database holds it.
func (w *world) stored(id string) *access.Request {
	w.t.Helper()
	r, err := w.db.GetRequest(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// stillPending fails unless the request is pending with n decisions, no
// grant, and nothing was added in the directory.
func (w *world) stillPending(id string, n int) {
	w.t.Helper()
	r := w.stored(id)
	if r.State != access.RequestPending || len(r.Decisions) != n || r.Grant != nil {
		w.t.Fatalf("request %s with %d decisions and grant %v, want pending with %d and no grant", r.State, len(r.Decisions), r.Grant, n)
	}
	if c := w.graph.Count(graphtest.RouteAddMember); c != 0 || w.graph.IsMember(prodGroup, rileyID) {
		w.t.Fatalf("%d add-member calls before the quorum", c)
	}
}

func TestQuorumCountsEachApproverOnce(t *testing.T) {
	w := newWorld(t)
	w.withPolicy()
	personal := "a:personal-" + rileyID
	w.post(w.message(riley, "request prod-db 2h sev3 INC-7 schema migration"))
	req := w.onlyRequest()
	thread, card := w.approvalThread()
	if c := cardJSON(card); !strings.Contains(c, "0 of 2 approvals") || !strings.Contains(c, "Severity SEV3") {
		t.Fatalf("the pending card does not show the severity and the quorum: %s", c)
	}

	w.clock.Advance(time.Minute)
	v := w.viewOf(w.post(w.click(alex, "approve", req.ID, nil)))
	if !strings.Contains(v.body, "1 of 2 approvals") || !strings.Contains(v.body, "Alex Approver") || !strings.Contains(v.body, "Pending") {
		t.Fatalf("card after the first approval: %s", v.json)
	}
	if slices.Contains(v.verbs, "approve") || !slices.Contains(v.verbs, "deny") {
		t.Fatalf("Alex's own card after approving has %v: no Approve, Deny stays", v.verbs)
	}
	w.stillPending(req.ID, 1)
	if w.auditBy(req.ID, access.ActionApprovalCounted, alexID) != 1 || w.auditBy(req.ID, access.ActionApproved, alexID) != 0 {
		t.Fatal("the first approval is not audited as request.approval_counted")
	}
	if c := cardJSON(w.conn.Activities(thread)[0].Card()); !strings.Contains(c, "1 of 2 approvals") || !strings.Contains(c, `"verb":"approve"`) {
		t.Fatalf("the channel's card does not show 1 of 2 with Approve for the others: %s", c)
	}
	if strings.Contains(w.texts(personal), "was approved") {
		t.Fatal("the requester was told of an approval before the quorum")
	}

	// The same approver again: refused, audited, nothing else changes.
	writes := w.writes()
	note, _ := w.viewIn(w.post(w.click(alex, "approve", req.ID, nil)))
	if !strings.Contains(note, "You already approved; 1 of 2 approvals") {
		t.Fatalf("second approval by Alex: note %q", note)
	}
	w.stillPending(req.ID, 1)
	if w.auditBy(req.ID, access.ActionDecisionRefused, alexID) != 1 || w.auditBy(req.ID, access.ActionApprovalCounted, alexID) != 1 {
		t.Fatal("the repeated approval is not audited as a refusal, or counted")
	}
	if w.writes() != writes {
		t.Fatal("the refused approval wrote to Teams")
	}

	// The requester never counts (the profile does not allow self-approval).
	if note, _ := w.viewIn(w.post(w.click(riley, "approve", req.ID, nil))); !strings.Contains(note, "cannot decide your own request") {
		t.Fatalf("riley's approval: %q", note)
	}
	w.stillPending(req.ID, 1)

	w.clock.Advance(time.Minute)
	v = w.viewOf(w.post(w.click(sam, "approve", req.ID, nil)))
	if !strings.Contains(v.body, "2 of 2 approvals") || !strings.Contains(v.body, "Alex Approver") || !strings.Contains(v.body, "Sam Second") {
		t.Fatalf("card after the second approval: %s", v.json)
	}
	got := w.stored(req.ID)
	if got.State != access.RequestActive || got.Grant == nil || !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatalf("after the quorum: request %s grant %v", got.State, got.Grant)
	}
	if !got.Grant.ExpiresAt.Equal(start.Add(2*time.Minute + 2*time.Hour)) {
		t.Fatalf("grant expires %s: its clock starts at the last approval", got.Grant.ExpiresAt)
	}
	if w.auditBy(req.ID, access.ActionApproved, samID) != 1 {
		t.Fatal("the approval completing the quorum is not audited as request.approved")
	}
	if texts := w.texts(personal); !strings.Contains(texts, "approved by Alex Approver and Sam Second") {
		t.Fatalf("requester not told who approved:\n%s", texts)
	}
}

func TestQuorumDenyAfterOneApprovalEndsIt(t *testing.T) {
	w := newWorld(t)
	w.withPolicy()
	w.post(w.message(riley, "request prod-db 2h sev3 INC-7 schema migration"))
	req := w.onlyRequest()
	w.post(w.click(alex, "approve", req.ID, nil))
	w.stillPending(req.ID, 1)

	v := w.viewOf(w.post(w.click(sam, "deny", req.ID, map[string]any{cards.InputReason: "not during the freeze"})))
	if !strings.Contains(v.body, "Denied by ") || !strings.Contains(v.body, "not during the freeze") || len(v.verbs) != 0 {
		t.Fatalf("card after the deny: %s", v.json)
	}
	got := w.stored(req.ID)
	if got.State != access.RequestDenied || got.Grant != nil || w.graph.Count(graphtest.RouteAddMember) != 0 {
		t.Fatalf("after the deny: request %s grant %v", got.State, got.Grant)
	}
	if texts := w.texts("a:personal-" + rileyID); !strings.Contains(texts, "denied by Sam Second") {
		t.Fatalf("requester not told of the denial:\n%s", texts)
	}
	// Alex's approval cannot revive it.
	if note, _ := w.viewIn(w.post(w.click(alex, "approve", req.ID, nil))); !strings.Contains(note, "already decided") {
		t.Fatalf("approval after the deny: %q", note)
	}
	if got := w.stored(req.ID); got.State != access.RequestDenied || got.Grant != nil || len(got.Decisions) != 2 {
		t.Fatalf("the approval after the deny changed the request: %s, %d decisions", got.State, len(got.Decisions))
	}
}

func TestQuorumApprovalsAtOnceMakeOneGrant(t *testing.T) {
	for round := 0; round < 5; round++ {
		w := newWorld(t)
		w.withPolicy()
		w.post(w.message(riley, "request prod-db 2h sev3 INC-7 schema migration"))
		req := w.onlyRequest()
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
		if got.State != access.RequestActive || got.Grant == nil || len(access.Approvals(got)) != 2 {
			t.Fatalf("round %d: request %s with %d approvals and grant %v, want active with 2", round, got.State, len(access.Approvals(got)), got.Grant)
		}
		if n := w.graph.Count(graphtest.RouteAddMember); n != 1 {
			t.Fatalf("round %d: %d add-member calls, want 1", round, n)
		}
		if w.auditBy(req.ID, access.ActionApproved, alexID)+w.auditBy(req.ID, access.ActionApproved, samID) != 1 {
			t.Fatalf("round %d: want exactly one request.approved", round)
		}
	}
}

func TestSeverityFromTheOneLinerTheFormAndPlainWords(t *testing.T) {
	w := newWorld(t)
	w.withPolicy()
	personal := "a:personal-" + rileyID

	// Refused, naming what is allowed; nothing stored or posted.
	for text, want := range map[string]string{
		"request prod-db 2h INC-1 no severity":      "needs a severity: one of sev1, sev2, sev3",
		"request prod-db 3h sev1 INC-1 too long":    "15m to 2h at severity sev1",
		"request prod-db 2h sev9 INC-1 unknown one": "needs a severity: one of sev1, sev2, sev3",
	} {
		before, seen := w.writes(), len(w.texts(personal))
		w.post(w.message(riley, text))
		if texts := w.texts(personal)[seen:]; !strings.Contains(texts, want) {
			t.Fatalf("%q: reply lacks %q:\n%s", text, want, texts)
		}
		if reqs, _ := w.db.OpenRequests(context.Background(), rileyID); len(reqs) != 0 {
			t.Fatalf("%q stored a request", text)
		}
		if w.writes() != before+1 {
			t.Fatalf("%q: %d connector writes, want the reply only", text, w.writes()-before)
		}
	}

	w.post(w.message(riley, "request prod-db 2h SEV2 INC-4711 checkout is slow"))
	req := w.onlyRequest()
	if req.Severity != "sev2" || req.Ticket != "INC-4711" || req.Justification != "checkout is slow" {
		t.Fatalf("one-liner stored %+v", req)
	}
	if _, card := w.approvalThread(); !strings.Contains(cardJSON(card), "Severity SEV2") {
		t.Fatalf("approval card lacks the severity badge: %s", cardJSON(card))
	}
	evs, _ := w.db.Audit(context.Background(), access.AuditFilter{RequestID: req.ID})
	if len(evs) == 0 || evs[0].Action != access.ActionRequested || evs[0].Reason != "severity sev2: checkout is slow" {
		t.Fatalf("request.created does not record the severity: %+v", evs)
	}
	w.post(w.message(riley, "cancel"))

	// The form offers the severities and passes the choice on.
	w.post(w.message(riley, "request"))
	if texts := w.texts(personal); !strings.Contains(texts, `"id":"severity"`) || !strings.Contains(texts, `"value":"sev3"`) {
		t.Fatalf("the request form has no severity choice:\n%s", texts)
	}
	w.post(w.personalClick(riley, cards.VerbSubmitRequest, "", map[string]any{
		cards.InputProfile: "prod-db", cards.InputDuration: "1h", cards.InputTicket: "INC-5",
		cards.InputJustification: "from the form", cards.InputSeverity: "sev3",
	}))
	req = w.onlyRequest()
	if req.Severity != "sev3" || req.Justification != "from the form" {
		t.Fatalf("form stored %+v", req)
	}
	w.post(w.message(riley, "cancel"))

	// Plain words: the severity word is the request's severity.
	w.post(w.message(riley, "I need prod-db for 90 minutes for INC-4712 sev 2, checkout is slow"))
	req = w.onlyRequest()
	if req.Severity != "sev2" || req.Duration != 90*time.Minute {
		t.Fatalf("plain words stored %+v", req)
	}
}

func TestOnCallAutoApprovalIsRevocableFromItsCard(t *testing.T) {
	w := newWorld(t)
	w.withPolicy()
	w.graph.AddMember(oncallGroup, rileyID)
	personal := "a:personal-" + rileyID

	// Above the auto-approval's 1h: the normal path.
	w.post(w.message(riley, "request prod-db 2h sev1 INC-9 database down"))
	req := w.onlyRequest()
	w.stillPending(req.ID, 0)
	w.post(w.message(riley, "cancel"))

	// Another severity than the rule's: the normal path.
	w.post(w.message(riley, "request prod-db 30m sev2 INC-9 database down"))
	req = w.onlyRequest()
	w.stillPending(req.ID, 0)
	w.post(w.message(riley, "cancel"))

	w.post(w.message(riley, "request prod-db 45m sev1 INC-9 database down"))
	reqs, _ := w.db.OpenRequests(context.Background(), rileyID)
	if len(reqs) != 1 {
		t.Fatalf("%d open requests", len(reqs))
	}
	got := &reqs[0]
	if got.State != access.RequestActive || got.Grant == nil || !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatalf("on-call sev1 45m: request %s grant %v, want active at once", got.State, got.Grant)
	}
	if len(got.Decisions) != 1 || got.Decisions[0].Approver.ObjectID != access.System.ObjectID || !strings.Contains(got.Decisions[0].Reason, oncallGroup) {
		t.Fatalf("decision %+v, want jitbot's naming the group", got.Decisions)
	}
	if w.auditBy(got.ID, access.ActionAutoApproved, access.System.ObjectID) != 1 {
		t.Fatal("auto-approval not audited as request.auto_approved by jitbot")
	}
	var thread string
	for _, r := range w.conn.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/v3/conversations") && strings.HasPrefix(r.ConversationID, channelID) {
			thread = r.ConversationID
		}
	}
	acts := w.conn.Activities(thread)
	c := cardJSON(acts[0].Card())
	if !strings.Contains(c, cards.AutoApprovedLine) || !strings.Contains(c, `"verb":"revokeNow"`) || strings.Contains(c, `"verb":"approve"`) {
		t.Fatalf("the approvers' card is not marked auto-approved with Revoke now: %s", c)
	}
	if texts := w.texts(personal); !strings.Contains(texts, "approved at once") || !strings.Contains(texts, "Access granted") {
		t.Fatalf("requester not told:\n%s", texts)
	}

	w.clock.Advance(10 * time.Minute)
	v := w.viewOf(w.post(w.click(alex, "revokeNow", got.ID, map[string]any{cards.InputRevokeReason: "not an incident"})))
	if !strings.Contains(v.json, "Revoked early by ") || slices.Contains(v.verbs, "revokeNow") {
		t.Fatalf("card after revoke now: %s", v.json)
	}
	if w.graph.IsMember(prodGroup, rileyID) || w.auditBy(got.ID, access.ActionRevokedEarly, alexID) != 1 {
		t.Fatal("the auto-approved grant was not revoked")
	}
}

// oncallDown is the directory with the on-call group unreadable: its
// membership question fails.
type oncallDown struct{ access.Directory }

func (d oncallDown) MemberGroups(ctx context.Context, userID string, groups []string) ([]string, error) {
	if slices.Contains(groups, oncallGroup) {
		return nil, errors.New("graph: 503 service unavailable")
	}
	return d.Directory.MemberGroups(ctx, userID, groups)
}

func TestAutoApprovalFailsClosedToTheApprovers(t *testing.T) {
	w := newWorld(t)
	w.withPolicy()
	w.graph.AddMember(oncallGroup, rileyID)
	w.reconfigure(func(c *access.Config) { c.Directory = oncallDown{c.Directory} })

	w.post(w.message(riley, "request prod-db 45m sev1 INC-9 database down"))
	req := w.onlyRequest()
	w.stillPending(req.ID, 0)
	if w.auditBy(req.ID, access.ActionAutoApproved, access.System.ObjectID) != 0 {
		t.Fatal("audited an auto-approval that did not happen")
	}
	if _, card := w.approvalThread(); !strings.Contains(cardJSON(card), `"verb":"approve"`) || strings.Contains(cardJSON(card), cards.AutoApprovedLine) {
		t.Fatalf("the approvers' card is not the ordinary pending card: %s", cardJSON(card))
	}
	// An approver decides it as any other.
	w.post(w.click(alex, "approve", req.ID, nil))
	if got := w.stored(req.ID); got.State != access.RequestActive || !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatalf("after the approval: %s", got.State)
	}
}

func TestAutoApprovalOnlyForTheGroupsMembers(t *testing.T) {
	w := newWorld(t)
	w.withPolicy() // riley is not on call
	w.post(w.message(riley, "request prod-db 45m sev1 INC-9 database down"))
	req := w.onlyRequest()
	w.stillPending(req.ID, 0)
	if w.auditBy(req.ID, access.ActionAutoApproved, access.System.ObjectID) != 0 {
		t.Fatal("auto-approved a requester outside the on-call group")
	}
}

func TestApprovalRechecksTheSeverityAsConfiguredNow(t *testing.T) {
	w := newWorld(t)
	w.withPolicy()
	w.post(w.message(riley, "request prod-db 2h sev3 INC-7 schema migration"))
	req := w.onlyRequest()
	w.reconfigure(func(c *access.Config) {
		p := c.Profiles[0]
		p.Severities = []string{"sev1", "sev2"}
		p.SeverityRules = map[string]access.SeverityRule{"sev1": p.SeverityRules["sev1"]}
		c.Profiles = []access.Profile{p}
	})
	v := w.viewOf(w.post(w.click(alex, "approve", req.ID, nil)))
	if !strings.Contains(v.json, "No longer valid") || !strings.Contains(v.json, "no longer has severity sev3") {
		t.Fatalf("card after approving a request of a removed severity: %s", v.json)
	}
	if got := w.stored(req.ID); got.State != access.RequestDenied || got.Grant != nil || w.graph.Count(graphtest.RouteAddMember) != 0 {
		t.Fatalf("request %s grant %v, want closed without a grant", got.State, got.Grant)
	}
}

// TestQuorumDoesNotCountAnApproverWhoLeft: Alex approves, then leaves the
// approver group; Sam's approval would complete the quorum, but Alex's no
// longer counts: the card shows 1 of 2 with Sam alone, nothing is granted,
// and the withdrawal is audited.
func TestQuorumDoesNotCountAnApproverWhoLeft(t *testing.T) {
	w := newWorld(t)
	w.withPolicy()
	w.post(w.message(riley, "request prod-db 2h sev3 INC-7 schema migration"))
	req := w.onlyRequest()
	w.post(w.click(alex, "approve", req.ID, nil))
	w.stillPending(req.ID, 1)
	w.graph.RemoveMember(approverGroup, alexID)

	w.clock.Advance(time.Minute)
	v := w.viewOf(w.post(w.click(sam, "approve", req.ID, nil)))
	if !strings.Contains(v.body, "1 of 2 approvals") || !strings.Contains(v.body, "Sam Second") || strings.Contains(v.body, "Alex Approver") {
		t.Fatalf("card after Sam's approval: %s", v.json)
	}
	if got := w.stored(req.ID); got.State != access.RequestPending || got.Grant != nil || len(access.Approvals(got)) != 1 {
		t.Fatalf("after Sam's approval: %s, %d counted approvals, grant %v", got.State, len(access.Approvals(got)), got.Grant)
	}
	if w.graph.Count(graphtest.RouteAddMember) != 0 || w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("granted on the approval of someone who left the approver group")
	}
	if w.auditBy(req.ID, access.ActionApprovalWithdrawn, access.System.ObjectID) != 1 || w.auditBy(req.ID, access.ActionApproved, samID) != 0 {
		t.Fatal("the withdrawal of Alex's approval is not audited, or Sam's approval completed the quorum")
	}
}
