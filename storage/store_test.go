package storage

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

func TestOpenRejectsUnsupportedURL(t *testing.T) {
	for _, u := range []string{"", "mysql://user:secret@db/jitbot", "sqlite:", "sqlite://", "/var/lib/jitbot.db", "sqlite:x.db?cache=shared"} {
		db, err := Open(context.Background(), u, nil)
		if err == nil {
			_ = db.Close()
			t.Errorf("Open(%q) succeeded, want an error", u)
			continue
		}
		if !strings.Contains(err.Error(), "postgres://") || !strings.Contains(err.Error(), "sqlite:") {
			t.Errorf("Open(%q) error %q does not name the accepted forms", u, err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error %q shows the password", u, err)
		}
	}
}

func TestOpenInMemory(t *testing.T) {
	db := openTest(t, "sqlite::memory:")
	if db.Driver() != DriverSQLite {
		t.Errorf("Driver() = %q, want %q", db.Driver(), DriverSQLite)
	}
	req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
	// Concurrent writers share the single connection without failing.
	errs := race(10, func(int) error {
		return db.AppendAudit(context.Background(), access.AuditEvent{Action: access.ActionRevokeSkipped, RequestID: req.ID})
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}
	if n := auditCount(t, db, req.ID, access.ActionRevokeSkipped); n != 10 {
		t.Errorf("%d events stored, want 10", n)
	}
}

func TestDriver(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			db := openTest(t, b.newURL(t))
			if db.Driver() != b.name {
				t.Errorf("Driver() = %q, want %q", db.Driver(), b.name)
			}
		})
	}
}

func TestCreateAndGetRequest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		in := newRequest(alice, "db-admin", t0)
		in.SelfApproval = true
		want := *in
		got := mustCreate(t, db, in)

		if got.State != access.RequestPending {
			t.Errorf("state = %s, want pending", got.State)
		}
		if in.State != access.RequestPending || in.UpdatedAt.IsZero() {
			t.Errorf("CreateRequest did not fill the caller's request: state %q, updated %v", in.State, in.UpdatedAt)
		}
		if got.ID != in.ID || got.Profile != want.Profile || got.GroupID != want.GroupID ||
			got.Requester != want.Requester || got.Duration != want.Duration || got.Ticket != want.Ticket ||
			got.Justification != want.Justification || !got.SelfApproval {
			t.Errorf("stored request = %+v, want the fields of %+v", got, want)
		}
		if got.RequesterChat != want.RequesterChat {
			t.Errorf("requester chat = %+v, want %+v", got.RequesterChat, want.RequesterChat)
		}
		if !got.CreatedAt.Equal(t0) || got.CreatedAt.Location() != time.UTC {
			t.Errorf("created at = %v, want %v in UTC", got.CreatedAt, t0)
		}
		if got.ApprovalChat != (access.ConversationRef{}) || got.ApprovalActivityID != "" {
			t.Errorf("new request already has an approval card: %+v %q", got.ApprovalChat, got.ApprovalActivityID)
		}
		if len(got.Decisions) != 0 || got.Grant != nil {
			t.Errorf("new request has decisions %v or grant %v", got.Decisions, got.Grant)
		}

		evs, err := db.Audit(ctx, access.AuditFilter{RequestID: got.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Action != access.ActionRequested || evs[0].Actor != alice || !evs[0].At.Equal(t0) {
			t.Errorf("audit after create = %+v, want one %s event by Alice at %v", evs, access.ActionRequested, t0)
		}

		// Times given in another zone are stored as the same instant.
		paris := time.FixedZone("CET", 3600)
		other := newRequest(bob, "db-admin", t0.In(paris))
		got2 := mustCreate(t, db, other)
		if !got2.CreatedAt.Equal(t0) || got2.CreatedAt.Location() != time.UTC {
			t.Errorf("created at = %v, want %v in UTC", got2.CreatedAt, t0)
		}

		_, err = db.GetRequest(ctx, "no-such-request")
		if !errors.Is(err, access.ErrNotFound) {
			t.Errorf("GetRequest(unknown) error = %v, want ErrNotFound", err)
		}
	})
}

func TestCreateRequestDuplicate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		first := mustCreate(t, db, newRequest(alice, "db-admin", t0))

		again := newRequest(alice, "db-admin", t0.Add(time.Minute))
		existing, err := db.CreateRequest(ctx, again, createdEvent(again))
		if !errors.Is(err, access.ErrDuplicate) {
			t.Fatalf("second CreateRequest error = %v, want ErrDuplicate", err)
		}
		if existing == nil || existing.ID != first.ID || existing.State != access.RequestPending {
			t.Fatalf("second CreateRequest returned %+v, want the pending request %s", existing, first.ID)
		}
		if again.ID != "" {
			t.Errorf("rejected request was given ID %s", again.ID)
		}

		// Other profiles and other requesters are independent.
		mustCreate(t, db, newRequest(alice, "web-admin", t0))
		mustCreate(t, db, newRequest(bob, "db-admin", t0))

		open, err := db.OpenRequests(ctx, alice.ObjectID)
		if err != nil {
			t.Fatal(err)
		}
		if len(open) != 2 {
			t.Errorf("Alice has %d open requests, want 2", len(open))
		}
		if n := auditCount(t, db, first.ID, access.ActionRequested); n != 1 {
			t.Errorf("%d creation events for the first request, want 1", n)
		}
		all, err := db.Audit(ctx, access.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 {
			t.Errorf("%d audit events, want 3 (one per stored request)", len(all))
		}

		// Once the pending request is decided, a new one may be filed.
		d := decision(bob, access.Deny, t0.Add(2*time.Minute))
		if _, err := db.Decide(ctx, first.ID, d, nil, decidedEvent(first, d)); err != nil {
			t.Fatal(err)
		}
		next := mustCreate(t, db, newRequest(alice, "db-admin", t0.Add(3*time.Minute)))
		if next.ID == first.ID {
			t.Error("new request reused the denied request's ID")
		}
	})
}

func TestCreateRequestConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const n = 20
		type result struct {
			id       string
			existing *access.Request
			err      error
		}
		results := race(n, func(i int) result {
			req := newRequest(alice, "db-admin", t0.Add(time.Duration(i)*time.Millisecond))
			existing, err := db.CreateRequest(ctx, req, createdEvent(req))
			return result{id: req.ID, existing: existing, err: err}
		})

		var winner string
		for _, r := range results {
			switch {
			case r.err == nil:
				if winner != "" {
					t.Fatalf("two requests stored: %s and %s", winner, r.id)
				}
				winner = r.id
			case !errors.Is(r.err, access.ErrDuplicate):
				t.Fatalf("CreateRequest error = %v, want nil or ErrDuplicate", r.err)
			}
		}
		if winner == "" {
			t.Fatal("no request stored")
		}
		for _, r := range results {
			if r.err != nil && (r.existing == nil || r.existing.ID != winner) {
				t.Errorf("duplicate returned %+v, want the stored request %s", r.existing, winner)
			}
		}
		open, err := db.OpenRequests(ctx, alice.ObjectID)
		if err != nil {
			t.Fatal(err)
		}
		if len(open) != 1 || open[0].ID != winner {
			t.Errorf("open requests = %d, want only %s", len(open), winner)
		}
		all, err := db.Audit(ctx, access.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1 || all[0].RequestID != winner {
			t.Errorf("audit = %+v, want one event for %s", all, winner)
		}
	})
}

func TestSetApprovalCard(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		chat := access.ConversationRef{
			ServiceURL: "https://smba.trafficmanager.net/emea/", ChannelID: "msteams",
			ConversationID: "19:approvers@thread.tacv2;messageid=1", TenantID: "tenant-1", BotID: "28:bot",
		}
		if err := db.SetApprovalCard(ctx, req.ID, chat, "1712345678901"); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, db, req.ID)
		if got.ApprovalChat != chat || got.ApprovalActivityID != "1712345678901" {
			t.Errorf("approval card = %+v %q, want %+v %q", got.ApprovalChat, got.ApprovalActivityID, chat, "1712345678901")
		}
		if got.RequesterChat != req.RequesterChat || got.State != access.RequestPending {
			t.Errorf("SetApprovalCard changed other fields: %+v", got)
		}
		err := db.SetApprovalCard(ctx, "no-such-request", chat, "1")
		if !errors.Is(err, access.ErrNotFound) {
			t.Errorf("SetApprovalCard(unknown) error = %v, want ErrNotFound", err)
		}
	})
}

func TestDecideApprove(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		decided := t0.Add(5 * time.Minute)
		d := decision(bob, access.Approve, decided)
		g := grantFor(req, decided)

		got, err := db.Decide(ctx, req.ID, d, g, decidedEvent(req, d))
		if err != nil {
			t.Fatal(err)
		}
		if got.State != access.RequestApproved || !got.UpdatedAt.Equal(decided) {
			t.Errorf("request state = %s updated %v, want approved at %v", got.State, got.UpdatedAt, decided)
		}
		if len(got.Decisions) != 1 || !reflect.DeepEqual(got.Decisions[0], d) {
			t.Errorf("decisions = %+v, want [%+v]", got.Decisions, d)
		}
		if !reflect.DeepEqual(got, mustGet(t, db, req.ID)) {
			t.Errorf("Decide returned %+v, GetRequest %+v", got, mustGet(t, db, req.ID))
		}
		gr := got.Grant
		if gr == nil {
			t.Fatal("no grant stored")
		}
		if gr.ID == "" || gr.RequestID != req.ID || gr.State != access.GrantGranting || gr.User != alice ||
			gr.Profile != req.Profile || gr.GroupID != req.GroupID {
			t.Errorf("grant = %+v, want a granting grant of %s for Alice", gr, req.ID)
		}
		if !gr.ApprovedAt.Equal(decided) || !gr.ExpiresAt.Equal(decided.Add(req.Duration)) || !gr.DueAt.Equal(gr.ExpiresAt) {
			t.Errorf("grant times approved %v expires %v due %v, want %v, %v, %v",
				gr.ApprovedAt, gr.ExpiresAt, gr.DueAt, decided, decided.Add(req.Duration), decided.Add(req.Duration))
		}
		if !gr.GrantedAt.IsZero() || !gr.RevokedAt.IsZero() || gr.PreExisting || gr.Attempts != 0 {
			t.Errorf("fresh grant carries later fields: %+v", gr)
		}
		granting, err := db.GrantsInState(ctx, access.GrantGranting)
		if err != nil {
			t.Fatal(err)
		}
		if len(granting) != 1 || granting[0].ID != gr.ID {
			t.Errorf("granting grants = %v, want [%s]", ids(granting), gr.ID)
		}
		if n := auditCount(t, db, req.ID, access.ActionApproved); n != 1 {
			t.Errorf("%d approval events, want 1", n)
		}

		// A second decision changes nothing.
		late := decision(carol, access.Deny, decided.Add(time.Minute))
		_, err = db.Decide(ctx, req.ID, late, nil, decidedEvent(req, late))
		if !errors.Is(err, access.ErrNotPending) {
			t.Fatalf("second Decide error = %v, want ErrNotPending", err)
		}
		after := mustGet(t, db, req.ID)
		if after.State != access.RequestApproved || len(after.Decisions) != 1 || after.Grant.ID != gr.ID {
			t.Errorf("late decision changed the request: %+v", after)
		}
		if n := auditCount(t, db, req.ID, access.ActionDenied); n != 0 {
			t.Errorf("late decision wrote %d audit events", n)
		}

		_, err = db.Decide(ctx, "no-such-request", d, grantFor(req, decided), decidedEvent(req, d))
		if !errors.Is(err, access.ErrNotFound) {
			t.Errorf("Decide(unknown) error = %v, want ErrNotFound", err)
		}
		if _, err := db.Decide(ctx, req.ID, decision(bob, access.Approve, decided), nil, decidedEvent(req, d)); err == nil {
			t.Error("approval without a grant accepted")
		}
	})
}

func TestDecideDeny(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		d := decision(bob, access.Deny, t0.Add(time.Minute))
		got, err := db.Decide(ctx, req.ID, d, nil, decidedEvent(req, d))
		if err != nil {
			t.Fatal(err)
		}
		if got.State != access.RequestDenied || got.Grant != nil {
			t.Errorf("denied request = state %s grant %+v, want denied without grant", got.State, got.Grant)
		}
		if last := got.LastDecision(); last == nil || last.Verdict != access.Deny || last.Approver != bob || last.Reason != d.Reason {
			t.Errorf("last decision = %+v, want Bob's denial", last)
		}
		if n := auditCount(t, db, req.ID, access.ActionDenied); n != 1 {
			t.Errorf("%d denial events, want 1", n)
		}
		open, err := db.OpenRequests(ctx, alice.ObjectID)
		if err != nil {
			t.Fatal(err)
		}
		if len(open) != 0 {
			t.Errorf("denied request still open: %+v", open)
		}
		// A denial must not carry a grant.
		req2 := mustCreate(t, db, newRequest(alice, "db-admin", t0.Add(2*time.Minute)))
		if _, err := db.Decide(ctx, req2.ID, d, grantFor(req2, d.DecidedAt), decidedEvent(req2, d)); err == nil {
			t.Error("denial with a grant accepted")
		}
		if got := mustGet(t, db, req2.ID); got.State != access.RequestPending || len(got.Decisions) != 0 {
			t.Errorf("rejected call changed the request: %+v", got)
		}
	})
}

func TestDecideConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		const n = 20
		type result struct {
			verdict access.Verdict
			req     *access.Request
			err     error
		}
		results := race(n, func(i int) result {
			v, approver := access.Approve, bob
			var g *access.Grant
			if i%2 == 1 {
				v, approver = access.Deny, carol
			}
			d := decision(approver, v, t0.Add(time.Duration(i+1)*time.Second))
			if v == access.Approve {
				g = grantFor(req, d.DecidedAt)
			}
			got, err := db.Decide(ctx, req.ID, d, g, decidedEvent(req, d))
			return result{verdict: v, req: got, err: err}
		})

		var wins []result
		for _, r := range results {
			switch {
			case r.err == nil:
				wins = append(wins, r)
			case !errors.Is(r.err, access.ErrNotPending):
				t.Fatalf("Decide error = %v, want nil or ErrNotPending", r.err)
			}
		}
		if len(wins) != 1 {
			t.Fatalf("%d decisions succeeded, want exactly 1", len(wins))
		}
		win := wins[0]
		got := mustGet(t, db, req.ID)
		if len(got.Decisions) != 1 || got.Decisions[0].Verdict != win.verdict {
			t.Errorf("decisions = %+v, want the winning %s only", got.Decisions, win.verdict)
		}
		wantState, wantAction, otherAction := access.RequestDenied, access.ActionDenied, access.ActionApproved
		if win.verdict == access.Approve {
			wantState, wantAction, otherAction = access.RequestApproved, access.ActionApproved, access.ActionDenied
		}
		if got.State != wantState {
			t.Errorf("state = %s, want %s", got.State, wantState)
		}
		if (got.Grant != nil) != (win.verdict == access.Approve) {
			t.Errorf("grant = %+v after a %s", got.Grant, win.verdict)
		}
		granting, err := db.GrantsInState(ctx, access.GrantGranting)
		if err != nil {
			t.Fatal(err)
		}
		if wantGrants := map[bool]int{true: 1, false: 0}[win.verdict == access.Approve]; len(granting) != wantGrants {
			t.Errorf("%d grants stored, want %d", len(granting), wantGrants)
		}
		if n := auditCount(t, db, req.ID, wantAction); n != 1 {
			t.Errorf("%d %s events, want 1", n, wantAction)
		}
		if n := auditCount(t, db, req.ID, otherAction); n != 0 {
			t.Errorf("%d %s events, want 0", n, otherAction)
		}
	})
}

func TestCompleteGrant(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		g := mustApprove(t, db, req, t0.Add(time.Minute)).Grant
		granted := t0.Add(time.Minute + 3*time.Second)
		ev := access.AuditEvent{Actor: botP, Action: access.ActionPreExisting, TargetUserID: alice.ObjectID}
		if err := db.CompleteGrant(ctx, g.ID, granted, true, ev); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, db, req.ID)
		if got.State != access.RequestActive || got.Grant.State != access.GrantActive {
			t.Errorf("after CompleteGrant request %s grant %s, want both active", got.State, got.Grant.State)
		}
		if !got.Grant.GrantedAt.Equal(granted) || !got.Grant.PreExisting {
			t.Errorf("grant granted at %v pre-existing %v, want %v and true", got.Grant.GrantedAt, got.Grant.PreExisting, granted)
		}
		evs, err := db.Audit(ctx, access.AuditFilter{RequestID: req.ID})
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		if last.Action != access.ActionPreExisting || !last.At.Equal(granted) || last.RequestID != req.ID {
			t.Errorf("last audit event = %+v, want %s for %s at %v", last, access.ActionPreExisting, req.ID, granted)
		}

		// Completing twice is a stale transition and writes nothing.
		err = db.CompleteGrant(ctx, g.ID, granted.Add(time.Second), false, ev)
		if !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("second CompleteGrant error = %v, want ErrStaleGrant", err)
		}
		if n := auditCount(t, db, req.ID, access.ActionPreExisting); n != 1 {
			t.Errorf("%d %s events, want 1", n, access.ActionPreExisting)
		}
		if got := mustGet(t, db, req.ID); !got.Grant.PreExisting || !got.Grant.GrantedAt.Equal(granted) {
			t.Errorf("stale CompleteGrant changed the grant: %+v", got.Grant)
		}
		err = db.CompleteGrant(ctx, "no-such-grant", granted, false, ev)
		if !errors.Is(err, access.ErrNotFound) {
			t.Errorf("CompleteGrant(unknown) error = %v, want ErrNotFound", err)
		}
	})
}

func TestFailGrant(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		g := mustApprove(t, db, req, t0.Add(time.Minute)).Grant
		ev := access.AuditEvent{At: t0.Add(2 * time.Minute), Actor: botP, Action: access.ActionGrantFailed, Reason: "403 Forbidden"}
		if err := db.FailGrant(ctx, g.ID, "403 Forbidden", ev); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, db, req.ID)
		if got.State != access.RequestFailed || got.Grant.State != access.GrantFailed || got.Grant.LastError != "403 Forbidden" {
			t.Errorf("after FailGrant request %s grant %s (%q), want failed, failed, the reason",
				got.State, got.Grant.State, got.Grant.LastError)
		}
		if n := auditCount(t, db, req.ID, access.ActionGrantFailed); n != 1 {
			t.Errorf("%d %s events, want 1", n, access.ActionGrantFailed)
		}
		for _, s := range []access.GrantState{access.GrantGranting, access.GrantActive} {
			gs, err := db.GrantsInState(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if len(gs) != 0 {
				t.Errorf("%s grants = %v, want none", s, ids(gs))
			}
		}
		if err := db.CompleteGrant(ctx, g.ID, t0, false, ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("CompleteGrant of a failed grant: %v, want ErrStaleGrant", err)
		}
		if err := db.FailGrant(ctx, g.ID, "again", ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("second FailGrant: %v, want ErrStaleGrant", err)
		}
		// The failed request no longer blocks a new one.
		mustCreate(t, db, newRequest(alice, "db-admin", t0.Add(time.Hour)))
	})
}

func TestGrantsInStateOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		var want []string
		for i, user := range []access.Person{alice, bob, carol} {
			req := mustCreate(t, db, newRequest(user, "db-admin", t0))
			g := mustApprove(t, db, req, t0.Add(time.Duration(3-i)*time.Minute)).Grant
			want = append([]string{g.ID}, want...)
		}
		got, err := db.GrantsInState(context.Background(), access.GrantGranting)
		if err != nil {
			t.Fatal(err)
		}
		if !equalStrings(ids(got), want) {
			t.Errorf("granting grants = %v, want oldest approval first %v", ids(got), want)
		}
	})
}

func TestDueGrantsAndNextDue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		if _, ok, err := db.NextDue(ctx); err != nil || ok {
			t.Fatalf("NextDue on an empty database = ok %v, err %v; want none", ok, err)
		}

		// Expiries out of creation order, one on a whole second and one a
		// fraction of a second later.
		late := mustActiveGrant(t, db, alice, "db-admin", t0.Add(3*time.Hour))
		early := mustActiveGrant(t, db, bob, "db-admin", t0.Truncate(time.Second).Add(time.Hour))
		middle := mustActiveGrant(t, db, carol, "db-admin", t0.Add(time.Hour))
		future := mustActiveGrant(t, db, alice, "web-admin", t0.Add(48*time.Hour))
		// A grant still being added is never due.
		pendingReq := mustCreate(t, db, newRequest(bob, "web-admin", t0))
		mustApprove(t, db, pendingReq, t0.Add(-5*time.Hour))

		next, ok, err := db.NextDue(ctx)
		if err != nil || !ok || !next.Equal(early.DueAt) || next.Location() != time.UTC {
			t.Errorf("NextDue = %v %v %v, want %v in UTC", next, ok, err, early.DueAt)
		}

		now := t0.Add(4 * time.Hour)
		due, err := db.DueGrants(ctx, now, 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{early.ID, middle.ID, late.ID}; !equalStrings(ids(due), want) {
			t.Errorf("DueGrants = %v, want earliest first %v", ids(due), want)
		}
		for _, g := range due {
			if g.State != access.GrantActive || g.DueAt.After(now) {
				t.Errorf("due grant %s is %s due %v", g.ID, g.State, g.DueAt)
			}
		}
		due, err = db.DueGrants(ctx, now, 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{early.ID, middle.ID}; !equalStrings(ids(due), want) {
			t.Errorf("DueGrants limit 2 = %v, want %v", ids(due), want)
		}
		// DueAt itself counts as due.
		due, err = db.DueGrants(ctx, early.DueAt, 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{early.ID}; !equalStrings(ids(due), want) {
			t.Errorf("DueGrants at the first due time = %v, want %v", ids(due), want)
		}
		due, err = db.DueGrants(ctx, t0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) != 0 {
			t.Errorf("DueGrants before any expiry = %v", ids(due))
		}

		// Revoking the earliest moves NextDue on.
		if err := db.FinishRevoke(ctx, early.ID, now, access.AuditEvent{Actor: botP, Action: access.ActionRevoked}); err != nil {
			t.Fatal(err)
		}
		next, ok, err = db.NextDue(ctx)
		if err != nil || !ok || !next.Equal(middle.DueAt) {
			t.Errorf("NextDue after revoking the first = %v %v %v, want %v", next, ok, err, middle.DueAt)
		}
		_ = future
	})
}

func TestFinishAndRetryRevoke(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		g := mustActiveGrant(t, db, alice, "db-admin", t0.Add(time.Hour))

		retryAt := g.DueAt.Add(2 * time.Minute)
		failEv := access.AuditEvent{At: g.DueAt, Actor: botP, Action: access.ActionRevokeFailed, Reason: "503"}
		if err := db.RetryRevoke(ctx, g.ID, 1, retryAt, "503 Service Unavailable", failEv); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, db, g.RequestID)
		if got.Grant.State != access.GrantActive || got.Grant.Attempts != 1 || !got.Grant.DueAt.Equal(retryAt) ||
			got.Grant.LastError != "503 Service Unavailable" || got.State != access.RequestActive {
			t.Errorf("after RetryRevoke grant = %+v, request %s", got.Grant, got.State)
		}
		if !got.Grant.ExpiresAt.Equal(g.ExpiresAt) {
			t.Errorf("RetryRevoke moved the expiry: %v, want %v", got.Grant.ExpiresAt, g.ExpiresAt)
		}
		if due, _ := db.DueGrants(ctx, g.DueAt, 10); len(due) != 0 {
			t.Errorf("grant still due before its retry time: %v", ids(due))
		}

		revokedAt := retryAt.Add(time.Second)
		ev := access.AuditEvent{Actor: botP, Action: access.ActionRevoked, TargetUserID: alice.ObjectID}
		results := race(10, func(int) error { return db.FinishRevoke(ctx, g.ID, revokedAt, ev) })
		wins := 0
		for _, err := range results {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, access.ErrStaleGrant):
				t.Fatalf("FinishRevoke error = %v, want nil or ErrStaleGrant", err)
			}
		}
		if wins != 1 {
			t.Errorf("%d FinishRevoke calls succeeded, want 1", wins)
		}
		got = mustGet(t, db, g.RequestID)
		if got.State != access.RequestExpired || got.Grant.State != access.GrantRevoked || !got.Grant.RevokedAt.Equal(revokedAt) {
			t.Errorf("after FinishRevoke request %s grant %s revoked %v, want expired, revoked, %v",
				got.State, got.Grant.State, got.Grant.RevokedAt, revokedAt)
		}
		if n := auditCount(t, db, g.RequestID, access.ActionRevoked); n != 1 {
			t.Errorf("%d %s events, want 1", n, access.ActionRevoked)
		}
		evs, err := db.Audit(ctx, access.AuditFilter{RequestID: g.RequestID})
		if err != nil {
			t.Fatal(err)
		}
		if last := evs[len(evs)-1]; last.Action != access.ActionRevoked || !last.At.Equal(revokedAt) {
			t.Errorf("last event = %+v, want %s at %v", last, access.ActionRevoked, revokedAt)
		}

		// The grant is no longer active: both calls are stale and write nothing.
		if err := db.RetryRevoke(ctx, g.ID, 2, revokedAt.Add(time.Hour), "late", failEv); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("RetryRevoke of a revoked grant: %v, want ErrStaleGrant", err)
		}
		if err := db.FinishRevoke(ctx, g.ID, revokedAt, ev); !errors.Is(err, access.ErrStaleGrant) {
			t.Errorf("FinishRevoke of a revoked grant: %v, want ErrStaleGrant", err)
		}
		if n := auditCount(t, db, g.RequestID, access.ActionRevokeFailed); n != 1 {
			t.Errorf("%d %s events, want 1", n, access.ActionRevokeFailed)
		}
		if got := mustGet(t, db, g.RequestID); got.Grant.Attempts != 1 || got.Grant.LastError != "503 Service Unavailable" {
			t.Errorf("stale RetryRevoke changed the grant: %+v", got.Grant)
		}
		if _, ok, _ := db.NextDue(ctx); ok {
			t.Error("NextDue still reports a revoked grant")
		}
		if err := db.FinishRevoke(ctx, "no-such-grant", revokedAt, ev); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("FinishRevoke(unknown) error = %v, want ErrNotFound", err)
		}
		if err := db.RetryRevoke(ctx, "no-such-grant", 1, revokedAt, "x", failEv); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("RetryRevoke(unknown) error = %v, want ErrNotFound", err)
		}
	})
}

func TestOpenRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		pending := mustCreate(t, db, newRequest(alice, "db-admin", t0.Add(3*time.Minute)))
		approvedReq := mustCreate(t, db, newRequest(alice, "web-admin", t0.Add(2*time.Minute)))
		approved := mustApprove(t, db, approvedReq, t0.Add(4*time.Minute))
		active := mustActiveGrant(t, db, alice, "k8s-admin", t0.Add(time.Hour)) // created at t0-2h
		deniedReq := mustCreate(t, db, newRequest(alice, "vpn-admin", t0.Add(5*time.Minute)))
		d := decision(bob, access.Deny, t0.Add(6*time.Minute))
		if _, err := db.Decide(ctx, deniedReq.ID, d, nil, decidedEvent(deniedReq, d)); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, db, newRequest(bob, "db-admin", t0.Add(10*time.Minute)))

		open, err := db.OpenRequests(ctx, alice.ObjectID)
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		for _, r := range open {
			gotIDs = append(gotIDs, r.ID)
			if r.Requester != alice {
				t.Errorf("open request %s belongs to %+v", r.ID, r.Requester)
			}
		}
		if want := []string{pending.ID, approved.ID, active.RequestID}; !equalStrings(gotIDs, want) {
			t.Fatalf("open requests = %v, want newest first %v", gotIDs, want)
		}
		if open[0].Grant != nil || open[1].Grant == nil || open[1].Grant.State != access.GrantGranting ||
			open[2].Grant == nil || open[2].Grant.State != access.GrantActive {
			t.Errorf("open requests carry the wrong grants: %+v", open)
		}
		if len(open[1].Decisions) != 1 || open[1].Decisions[0].Approver != bob {
			t.Errorf("approved request decisions = %+v", open[1].Decisions)
		}
		none, err := db.OpenRequests(ctx, carol.ObjectID)
		if err != nil || len(none) != 0 {
			t.Errorf("Carol's open requests = %v, %v; want none", none, err)
		}
	})
}

func TestAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		other := mustCreate(t, db, newRequest(bob, "db-admin", t0.Add(time.Second)))
		extra := []access.AuditEvent{
			{At: t0.Add(3 * time.Minute), Actor: botP, Action: access.ActionRevokeSkipped, RequestID: req.ID, Reason: "third"},
			{At: t0.Add(time.Minute), Actor: botP, Action: access.ActionRevokeSkipped, RequestID: req.ID, Reason: "first"},
			{At: t0.Add(2 * time.Minute), Actor: botP, Action: access.ActionRevokeSkipped, RequestID: req.ID, Reason: "second",
				ConversationID: "19:c", ActivityID: "a1", Profile: "db-admin", GroupID: "g", TargetUserID: alice.ObjectID},
		}
		for _, ev := range extra {
			if err := db.AppendAudit(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		before := time.Now()
		if err := db.AppendAudit(ctx, access.AuditEvent{Actor: botP, Action: access.ActionRevokeSkipped, RequestID: other.ID}); err != nil {
			t.Fatal(err)
		}

		all, err := db.Audit(ctx, access.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 6 {
			t.Fatalf("%d events, want 6", len(all))
		}
		seen := map[int64]bool{}
		for i, ev := range all {
			if ev.ID <= 0 || seen[ev.ID] {
				t.Errorf("event %d has id %d: want positive and unique", i, ev.ID)
			}
			seen[ev.ID] = true
			if i > 0 && ev.At.Before(all[i-1].At) {
				t.Errorf("event %d at %v comes after a later one at %v", i, ev.At, all[i-1].At)
			}
		}
		if last := all[len(all)-1]; last.At.Before(before.Add(-time.Second)) || last.At.Location() != time.UTC {
			t.Errorf("event without a time stored at %v, want now in UTC", last.At)
		}

		mine, err := db.Audit(ctx, access.AuditFilter{RequestID: req.ID})
		if err != nil {
			t.Fatal(err)
		}
		var reasons []string
		for _, ev := range mine {
			if ev.RequestID != req.ID {
				t.Errorf("filtered audit returned an event of %s", ev.RequestID)
			}
			reasons = append(reasons, ev.Reason)
		}
		if want := []string{"", "first", "second", "third"}; !equalStrings(reasons, want) {
			t.Errorf("events of the request = %q, want oldest first %q", reasons, want)
		}
		if !reflect.DeepEqual(mine[2], access.AuditEvent{ID: mine[2].ID, At: extra[2].At, Actor: botP, Action: extra[2].Action,
			RequestID: req.ID, Profile: "db-admin", GroupID: "g", TargetUserID: alice.ObjectID, Reason: "second",
			ConversationID: "19:c", ActivityID: "a1"}) {
			t.Errorf("event read back = %+v, want every field of %+v", mine[2], extra[2])
		}

		window, err := db.Audit(ctx, access.AuditFilter{RequestID: req.ID, Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		reasons = reasons[:0]
		for _, ev := range window {
			reasons = append(reasons, ev.Reason)
		}
		if want := []string{"first", "second"}; !equalStrings(reasons, want) {
			t.Errorf("events in [since, until) = %q, want %q", reasons, want)
		}
		limited, err := db.Audit(ctx, access.AuditFilter{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(limited) != 2 || limited[0].ID != all[0].ID || limited[1].ID != all[1].ID {
			t.Errorf("Audit limit 2 = %+v, want the first two of %+v", limited, all[:2])
		}
		if err := db.AppendAudit(ctx, access.AuditEvent{RequestID: req.ID}); err == nil {
			t.Error("event without an action accepted")
		}
	})
}
