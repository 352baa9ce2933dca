package bot_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/graph"
	"github.com/jitbot/jitbot/graph/graphtest"
)

// pimWorld is the world with prod-db in membership pim, the fake Graph's
// PIM on the world's clock.
func pimWorld(t *testing.T) *world {
	t.Helper()
	w := newWorld(t)
	w.graph.SetClock(w.clock.Now)
	dir, err := graph.New(graph.Config{GraphURL: w.graph.URL(), Transport: w.graph.Transport()}, w.graph.Credential(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.reconfigure(func(c *access.Config) {
		c.PIM = dir
		c.Profiles[0].Membership = access.MembershipPIM
		c.Profiles[0].ApprovalTimeout = 24 * time.Hour
	})
	return w
}

// TestScheduledPIMStart: a scheduled request on a pim profile gets its
// assignment at the start, ending at start + duration. When less than
// Entra's 5-minute minimum of its window is left, at a late start (jitbot
// was down) or at a late approval, it is closed as no longer valid with
// the reason, and nothing is sent to PIM: no failed grant with Entra's
// error for something jitbot knew it could not grant.
func TestScheduledPIMStart(t *testing.T) {
	ctx := context.Background()
	t.Run("on time", func(t *testing.T) {
		w := pimWorld(t)
		req := w.scheduled("request prod-db 2h at 22:00 INC-4711 nightly orders migration")
		if n := w.graph.Count(graphtest.RoutePIMRequest); n != 0 {
			t.Fatalf("%d PIM requests before the start", n)
		}
		w.clock.Set(scheduledAt)
		if _, err := w.svc.WorkStarts(ctx); err != nil {
			t.Fatal(err)
		}
		as := w.graph.PIMAssignments(prodGroup)
		if len(as) != 1 || !as[0].Start.Equal(scheduledAt) || !as[0].End.Equal(scheduledAt.Add(2*time.Hour)) {
			t.Fatalf("assignments at the start: %+v", as)
		}
		if got, _ := w.db.GetRequest(ctx, req.ID); got.State != access.RequestActive {
			t.Fatalf("at the start: %s", got.State)
		}
	})
	t.Run("late start", func(t *testing.T) {
		w := pimWorld(t)
		req := w.scheduled("request prod-db 2h at 22:00 INC-4711 nightly orders migration")
		w.clock.Set(scheduledAt.Add(2*time.Hour - 3*time.Minute))
		if _, err := w.svc.WorkStarts(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Work(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := w.db.GetRequest(ctx, req.ID)
		if got.State != access.RequestDenied || got.Grant != nil || w.auditBy(req.ID, access.ActionGrantFailed, access.System.ObjectID) != 0 {
			t.Fatalf("3 minutes before the window's end: %s, grant %+v", got.State, got.Grant)
		}
		if n := w.graph.Count(graphtest.RoutePIMRequest); n != 0 {
			t.Fatalf("%d PIM requests for a window shorter than PIM's minimum", n)
		}
		if texts := w.texts("a:personal-" + rileyID); !strings.Contains(texts, "closed at its start") || !strings.Contains(texts, "5m") {
			t.Fatalf("requester not told why:\n%s", texts)
		}
	})
	t.Run("late approval", func(t *testing.T) {
		w := pimWorld(t)
		if code, _ := w.post(w.inZone("request prod-db 2h at 22:00 INC-4711 nightly orders migration", "Europe/Berlin")); code != http.StatusOK {
			t.Fatalf("request: HTTP %d", code)
		}
		req := w.onlyRequest()
		w.clock.Set(scheduledAt.Add(2*time.Hour - 4*time.Minute))
		_, resp := w.post(w.click(alex, "approve", req.ID, nil))
		got, _ := w.db.GetRequest(ctx, req.ID)
		if got.State != access.RequestDenied || got.Grant != nil || !strings.Contains(cardJSON(resp), "5m") {
			t.Fatalf("approved 4 minutes before the window's end: %s, grant %+v, %s", got.State, got.Grant, cardJSON(resp))
		}
		if n := w.graph.Count(graphtest.RoutePIMRequest); n != 0 {
			t.Fatalf("%d PIM requests for a window shorter than PIM's minimum", n)
		}
	})
}
