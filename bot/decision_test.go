package bot_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// otherGroup is a group a profile may be moved to.
const otherGroup = "aaaaaaaa-0000-4000-8000-0000000000b1"

// audited reports whether the request's audit trail has an event of action
// by actor.
func (w *world) audited(requestID string, action access.Action, actor string) bool {
	w.t.Helper()
	evs, err := w.db.Audit(context.Background(), access.AuditFilter{RequestID: requestID})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Action == action && ev.Actor.ObjectID == actor {
			return true
		}
	}
	return false
}

func TestApprovalRechecksTheProfileAsItIsNow(t *testing.T) {
	for _, c := range []struct {
		name     string
		duration string
		change   func(w *world)
		why      string
		again    bool // the requester may still ask for prod-db
	}{
		{"requester left the requester groups", "2h", func(w *world) {
			w.graph.RemoveMember(requesterGrp, rileyID)
		}, "no longer in a requester group", false},
		{"duration above the profile's new maximum", "3h", func(w *world) {
			w.reconfigure(func(c *access.Config) {
				p := c.Profiles[0]
				p.MaxDuration = 2 * time.Hour
				c.Profiles = []access.Profile{p}
			})
		}, "now grants 15m to 2h", true},
		{"duration below the profile's new minimum", "30m", func(w *world) {
			w.reconfigure(func(c *access.Config) {
				p := c.Profiles[0]
				p.MinDuration = time.Hour
				c.Profiles = []access.Profile{p}
			})
		}, "now grants 1h to 4h", true},
		{"profile moved to another group", "2h", func(w *world) {
			w.graph.AddGroup(otherGroup)
			w.reconfigure(func(c *access.Config) {
				p := c.Profiles[0]
				p.GroupID = otherGroup
				c.Profiles = []access.Profile{p}
			})
		}, "now grants membership of another group", true},
		{"profile no longer configured", "2h", func(w *world) {
			w.reconfigure(func(c *access.Config) {
				p := c.Profiles[0]
				p.Name = "prod-db-v2"
				c.Profiles = []access.Profile{p}
			})
		}, "profile prod-db is no longer configured", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			personal := "a:personal-" + rileyID
			w.post(w.message(riley, "request prod-db "+c.duration+" INC-1 checkout is slow"))
			req := w.onlyRequest()
			thread, _ := w.approvalThread()
			c.change(w)

			code, resp := w.post(w.click(alex, "approve", req.ID, nil))
			if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.card.adaptive" {
				t.Fatalf("approve: HTTP %d %v", code, resp)
			}
			card := cardJSON(resp["value"])
			if !strings.Contains(card, "No longer valid") || !strings.Contains(card, c.why) || strings.Contains(card, `"verb":"approve"`) {
				t.Fatalf("card after the click does not show the request closed as no longer valid (%s): %s", c.why, card)
			}
			got, err := w.db.GetRequest(context.Background(), req.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != access.RequestDenied || got.Grant != nil {
				t.Fatalf("request %s with grant %v, want closed without a grant", got.State, got.Grant)
			}
			if n := w.graph.Count(graphtest.RouteAddMember); n != 0 || w.graph.IsMember(prodGroup, rileyID) {
				t.Fatalf("%d add-member calls: nothing may be added", n)
			}
			if texts := w.texts(personal); !strings.Contains(texts, "closed without a decision") || !strings.Contains(texts, c.why) {
				t.Fatalf("requester not told why:\n%s", texts)
			}
			acts := w.conn.Activities(thread)
			if len(acts) == 0 || acts[0].Version < 2 || !strings.Contains(cardJSON(acts[0].Card()), "No longer valid") {
				t.Fatal("the approval card in the channel was not updated")
			}
			if !w.audited(req.ID, access.ActionInvalidated, alexID) {
				t.Fatal("the closing is not audited as request.invalidated by the approver who clicked")
			}
			if !c.again {
				return
			}
			// Nothing pending is left: the requester may ask again.
			w.post(w.message(riley, "request prod-db 1h INC-2 again"))
			if reqs, _ := w.db.OpenRequests(context.Background(), rileyID); len(reqs) != 1 || reqs[0].ID == req.ID {
				t.Fatalf("a new request after the closed one: %v", reqs)
			}
		})
	}
}

func TestNonApproverCannotCloseAStaleRequest(t *testing.T) {
	w := newWorld(t)
	w.post(w.message(riley, "request prod-db 2h INC-1 checkout is slow"))
	req := w.onlyRequest()
	w.graph.RemoveMember(requesterGrp, rileyID)
	if _, resp := w.post(w.click(eve, "approve", req.ID, nil)); !strings.Contains(cardJSON(resp), "not an approver") {
		t.Fatalf("outsider's click: %v", resp)
	}
	if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestPending {
		t.Fatalf("an outsider's click moved the request to %s", got.State)
	}
	// A denial needs no re-check: it is recorded as the approver's.
	w.post(w.click(alex, "deny", req.ID, map[string]any{"reason": "not needed"}))
	got, _ := w.db.GetRequest(context.Background(), req.ID)
	if got.State != access.RequestDenied || got.LastDecision().Approver.ObjectID != alexID {
		t.Fatalf("denial: %s by %+v", got.State, got.LastDecision())
	}
}

func TestUserTextCannotInjectMarkup(t *testing.T) {
	w := newWorld(t)
	personal := "a:personal-" + rileyID
	for _, c := range []struct{ text, want string }{
		{"request [x](https://evil.example) 1h INC-1 why", "There is no profile called `[x](https://evil.example)`"},
		{"**bold**<img/src=x> soon", "I don't know `**bold**<img/src=x>`"},
		{"request prod-db [1h](https://evil.example) INC-1 why", "`[1h](https://evil.example)` is not a duration"},
		{"request prod-db 1h INC-1", "Say why"},
		{"request prod-db 1h INC-1`x` because", "needs a ticket"},
	} {
		w.post(w.message(riley, c.text))
		if got := w.texts(personal); !strings.Contains(got, c.want) {
			t.Errorf("%q: reply lacks %q:\n%s", c.text, c.want, got)
		}
	}

	// A deny reason and an approver's display name reach the requester
	// inert: the reason in a code span, the name escaped.
	w.post(w.message(riley, "request prod-db 1h INC-1 checkout is slow"))
	req := w.onlyRequest()
	mallory := person{alexID, "Alex [Approver](https://evil.example) <at>Sam</at>"}
	w.post(w.click(mallory, "deny", req.ID, map[string]any{"reason": "see [this](https://evil.example) and `ping` <at>all</at>\nnow"}))
	got := w.texts(personal)
	for _, want := range []string{
		`denied by Alex \[Approver\]\(https\://evil.example\) \<at\>Sam\</at\>.`,
		"Reason: `see [this](https://evil.example) and ˋpingˋ <at>all</at> now`",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("denial notice lacks %q:\n%s", want, got)
		}
	}
}

func TestTextLimitsCountCharacters(t *testing.T) {
	w := newWorld(t)
	personal := "a:personal-" + rileyID
	// 800 characters of two bytes each: within the limit of 1000 characters.
	long := strings.Repeat("é", 800)
	w.post(w.message(riley, "request prod-db 1h INC-1 "+long))
	req := w.onlyRequest()
	if req.Justification != long {
		t.Fatalf("a justification of %d characters (%d bytes) was not stored whole", access.Length(long), len(long))
	}
	w.post(w.click(alex, "deny", req.ID, map[string]any{"reason": "not needed"}))

	tooLong := strings.Repeat("é", access.MaxJustification+1)
	w.post(w.message(riley, "request prod-db 1h INC-2 "+tooLong))
	if got := w.texts(personal); !strings.Contains(got, "too long (1001 characters)") {
		t.Fatalf("over-long justification not refused by its length in characters:\n%s", got)
	}
	if reqs, _ := w.db.OpenRequests(context.Background(), rileyID); len(reqs) != 0 {
		t.Fatalf("an over-long justification was stored")
	}

	// A deny reason over its limit changes nothing.
	w.post(w.message(riley, "request prod-db 1h INC-3 again"))
	req = w.onlyRequest()
	_, resp := w.post(w.click(alex, "deny", req.ID, map[string]any{"reason": strings.Repeat("ü", access.MaxReason+1)}))
	if !strings.Contains(cardJSON(resp), "reason is too long") {
		t.Fatalf("over-long reason: %v", resp)
	}
	if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestPending {
		t.Fatalf("an over-long reason decided the request: %s", got.State)
	}
}

func TestIdentitiesAreObjectIDs(t *testing.T) {
	w := newWorld(t)
	w.post(w.message(riley, "request prod-db 1h INC-1 checkout is slow"))
	req := w.onlyRequest()
	w.graph.ResetCalls()

	mallory := person{"8:orgid:mallory", "Mallory"}
	personal := "a:personal-" + mallory.id
	for _, text := range []string{"request prod-db 1h INC-1 let me in", "profiles", "request", "status"} {
		w.post(w.message(mallory, text))
	}
	if got := w.texts(personal); strings.Count(got, "is not one (an object id is a GUID)") != 4 {
		t.Fatalf("each command must be refused with the reason:\n%s", got)
	}
	if _, resp := w.post(w.click(mallory, "approve", req.ID, nil)); !strings.Contains(cardJSON(resp), "is not one (an object id is a GUID)") {
		t.Fatalf("click by a non-GUID identity: %v", resp)
	}
	noID := person{"", "Guest"}
	act := w.click(noID, "approve", req.ID, nil)
	act["from"] = map[string]any{"id": "29:guest", "name": "Guest"}
	if _, resp := w.post(act); !strings.Contains(cardJSON(resp), "sent no Entra ID object id") {
		t.Fatalf("click without an object id: %v", resp)
	}
	if calls := w.graph.Calls(); len(calls) != 0 {
		t.Fatalf("%d Graph calls for callers without an object id, want none: %+v", len(calls), calls)
	}
	if got, _ := w.db.GetRequest(context.Background(), req.ID); got.State != access.RequestPending {
		t.Fatalf("state %s", got.State)
	}
}
