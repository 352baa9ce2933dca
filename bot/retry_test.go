package bot_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// retryClick is a "Retry now" click by p on the security alert of grant id,
// sent over HTTP with a signed channel token.
func (w *world) retryClick(p person, grantID string) (int, map[string]any) {
	w.t.Helper()
	act := w.click(p, "retryRevoke", "", map[string]any{"grantId": grantID})
	act["conversation"] = map[string]any{"id": securityChannel + ";messageid=1", "conversationType": "channel", "isGroup": true, "tenantId": tenantID}
	return w.post(act)
}

// approved submits and approves a one-hour request of riley's and returns
// it as stored.
func (w *world) approved() *access.Request {
	w.t.Helper()
	w.post(w.message(riley, "request prod-db 1h INC-1 retry test"))
	req := w.onlyRequest()
	if code, _ := w.post(w.click(alex, "approve", req.ID, nil)); code != http.StatusOK {
		w.t.Fatalf("approve: HTTP %d", code)
	}
	got, err := w.db.GetRequest(context.Background(), req.ID)
	if err != nil || got.Grant == nil {
		w.t.Fatalf("approved request: %+v, %v", got, err)
	}
	return got
}

func (w *world) grant(id string) access.Grant {
	w.t.Helper()
	g, err := w.db.GetGrant(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return *g
}

// retryRefused clicks Retry now as alex on a grant that has no failed
// removal, and checks that the answer is a message containing want, that
// the grant row did not change, that Graph was not asked to remove anyone,
// and that the refused click was audited with alex as its actor.
func (w *world) retryRefused(grantID, want string) {
	w.t.Helper()
	before := w.grant(grantID)
	removes := w.graph.Count(graphtest.RouteRemoveMember)
	code, resp := w.retryClick(alex, grantID)
	if code != http.StatusOK || resp["type"] != "application/vnd.microsoft.activity.message" {
		w.t.Fatalf("retry now: HTTP %d %v, want a message", code, resp)
	}
	if msg, _ := resp["value"].(string); !strings.Contains(msg, want) {
		w.t.Errorf("retry now said %q, want it to contain %q", msg, want)
	}
	if after := w.grant(grantID); !reflect.DeepEqual(before, after) {
		w.t.Errorf("retry now changed the grant:\nbefore %+v\nafter  %+v", before, after)
	}
	if n := w.graph.Count(graphtest.RouteRemoveMember) - removes; n != 0 {
		w.t.Errorf("retry now sent %d removals to Graph", n)
	}
	evs, err := w.db.Audit(context.Background(), access.AuditFilter{RequestID: before.RequestID})
	if err != nil {
		w.t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Action != access.ActionRetryRefused || last.Actor.ObjectID != alexID {
		w.t.Errorf("last audit event %+v, want %s by alex", last, access.ActionRetryRefused)
	}
}

func TestRetryNowOnActiveGrantChangesNothing(t *testing.T) {
	w := newWorld(t)
	req := w.approved()
	if req.Grant.State != access.GrantActive {
		t.Fatalf("grant %s, want active", req.Grant.State)
	}
	w.clock.Advance(10 * time.Minute)
	w.retryRefused(req.Grant.ID, "active until "+access.FormatTime(req.Grant.ExpiresAt))
	if !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("riley lost the membership after Retry now on an active grant")
	}
}

func TestRetryNowOnGrantingGrantChangesNothing(t *testing.T) {
	w := newWorld(t)
	w.post(w.message(riley, "request prod-db 1h INC-1 retry test"))
	req := w.onlyRequest()
	// Graph takes its time adding the member: the grant stays granting,
	// claimed by this replica, while the security team clicks.
	w.graph.InjectFault(graphtest.Fault{Route: graphtest.RouteAddMember, Delay: 3 * time.Second})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.post(w.click(alex, "approve", req.ID, nil))
	}()
	var g access.Grant
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := w.db.GetRequest(context.Background(), req.ID)
		if err == nil && got.Grant != nil && got.Grant.Checked {
			g = *got.Grant
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the grant was not checked in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if g.State != access.GrantGranting {
		t.Fatalf("grant %s, want granting", g.State)
	}
	w.retryRefused(g.ID, "still being added")
	wg.Wait()
	if got := w.grant(g.ID); got.State != access.GrantActive || !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatalf("after the slow add: %s, member %v", got.State, w.graph.IsMember(prodGroup, rileyID))
	}
}

func TestRetryNowOnRevokedGrantChangesNothing(t *testing.T) {
	w := newWorld(t)
	req := w.approved()
	w.clock.Advance(time.Hour)
	if n, err := w.svc.Work(context.Background()); n != 1 || err != nil {
		t.Fatalf("revoke: %d %v", n, err)
	}
	if g := w.grant(req.Grant.ID); g.State != access.GrantRevoked {
		t.Fatalf("grant %s, want revoked", g.State)
	}
	w.retryRefused(req.Grant.ID, "already ended")
}

// irrevocable makes riley's approved grant irrevocable (Graph refuses the
// removal with a permanent error) and returns it.
func (w *world) irrevocable() access.Grant {
	w.t.Helper()
	req := w.approved()
	w.graph.InjectFault(graphtest.Fault{Route: graphtest.RouteRemoveMember, Status: http.StatusForbidden, Code: "Authorization_RequestDenied", Message: "Insufficient privileges to complete the operation."})
	w.clock.Advance(time.Hour)
	w.svc.Work(context.Background())
	g := w.grant(req.Grant.ID)
	if g.State != access.GrantIrrevocable {
		w.t.Fatalf("after a 403: %s, want irrevocable", g.State)
	}
	return g
}

func TestRetryNowOnGrantClaimedByAnotherReplicaChangesNothing(t *testing.T) {
	w := newWorld(t)
	g := w.irrevocable()
	// Another replica claims the grant when its next retry falls due.
	w.clock.Set(g.DueAt)
	now := w.clock.Now()
	claimed, err := w.db.ClaimWork(context.Background(), "replica-2", now, now.Add(time.Minute), 0)
	if err != nil || len(claimed) != 1 || claimed[0].ID != g.ID {
		t.Fatalf("replica-2 claims %v, %v; want the irrevocable grant", claimed, err)
	}
	w.retryRefused(g.ID, "being worked on right now")
	if got := w.grant(g.ID); got.ClaimedBy != "replica-2" {
		t.Fatalf("claim after Retry now: %q, want replica-2's", got.ClaimedBy)
	}
	if !w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("riley was removed under another replica's claim")
	}
}

func TestRetryNowOnIrrevocableGrantRemoves(t *testing.T) {
	w := newWorld(t)
	g := w.irrevocable()
	w.clock.Advance(time.Minute)
	code, resp := w.retryClick(alex, g.ID)
	if c := cardJSON(resp["value"]); code != http.StatusOK || strings.Contains(c, `"verb":"retryRevoke"`) || !strings.Contains(c, "Access removed") {
		t.Fatalf("retry now: HTTP %d %s", code, c)
	}
	if got := w.grant(g.ID); got.State != access.GrantRevoked {
		t.Fatalf("grant %s after Retry now, want revoked", got.State)
	}
	if w.graph.IsMember(prodGroup, rileyID) {
		t.Fatal("still a member after Retry now")
	}
	evs, err := w.db.Audit(context.Background(), access.AuditFilter{RequestID: g.RequestID})
	if err != nil {
		t.Fatal(err)
	}
	var asked bool
	for _, ev := range evs {
		asked = asked || ev.Action == access.ActionRetryNow && ev.Actor.ObjectID == alexID
	}
	if !asked {
		t.Fatalf("no %s event by alex in %+v", access.ActionRetryNow, evs)
	}
}

// TestRetryNowByAnOutsiderIsRefusedAndAudited: someone outside the security
// groups gets a refusal, the grant is untouched, and the attempt is on
// record with them as its actor.
func TestRetryNowByAnOutsiderIsRefusedAndAudited(t *testing.T) {
	w := newWorld(t)
	g := w.approved().Grant
	before := w.grant(g.ID)
	code, resp := w.retryClick(eve, g.ID)
	if msg, _ := resp["value"].(string); code != http.StatusOK || !strings.Contains(msg, "Only the security team") {
		t.Fatalf("outsider's retry: HTTP %d %v", code, resp)
	}
	if after := w.grant(g.ID); !reflect.DeepEqual(before, after) {
		t.Errorf("an outsider's retry changed the grant:\nbefore %+v\nafter  %+v", before, after)
	}
	evs, err := w.db.Audit(context.Background(), access.AuditFilter{RequestID: g.RequestID})
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Action != access.ActionRetryRefused || last.Actor.ObjectID != eveID {
		t.Errorf("last audit event %+v, want %s by eve", last, access.ActionRetryRefused)
	}
}
