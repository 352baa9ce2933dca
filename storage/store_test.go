package storage

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/audit"
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
		return db.AppendAudit(context.Background(), access.AuditEvent{At: t0, Action: access.ActionRevokeSkipped, RequestID: req.ID})
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
		if _, err := access.RecordDecision(ctx, db, first.ID, d, nil, "", time.Time{}, decidedEvent(first, d)); err != nil {
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

func TestDecideDeny(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		req := mustCreate(t, db, newRequest(alice, "db-admin", t0))
		d := decision(bob, access.Deny, t0.Add(time.Minute))
		got, err := access.RecordDecision(ctx, db, req.ID, d, nil, "", time.Time{}, decidedEvent(req, d))
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
		if _, err := access.RecordDecision(ctx, db, req2.ID, d, grantFor(req2, d.DecidedAt), ownerA, d.DecidedAt.Add(lease), decidedEvent(req2, d)); err == nil {
			t.Error("denial with a grant accepted")
		}
		if got := mustGet(t, db, req2.ID); got.State != access.RequestPending || len(got.Decisions) != 0 {
			t.Errorf("rejected call changed the request: %+v", got)
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
		if _, err := access.RecordDecision(ctx, db, deniedReq.ID, d, nil, "", time.Time{}, decidedEvent(deniedReq, d)); err != nil {
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
		// The store never reads a clock: an event without a time is refused.
		if err := db.AppendAudit(ctx, access.AuditEvent{Actor: botP, Action: access.ActionRevokeSkipped, RequestID: other.ID}); err == nil {
			t.Error("AppendAudit of an event without a time succeeded")
		}
		local := t0.Add(3 * time.Minute).In(time.FixedZone("CET", 3600))
		if err := db.AppendAudit(ctx, access.AuditEvent{At: local, Actor: botP, Action: access.ActionRevokeSkipped, RequestID: other.ID}); err != nil {
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
		if last := all[len(all)-1]; !last.At.Equal(local) || last.At.Location() != time.UTC {
			t.Errorf("event stored at %v, want %v in UTC", last.At, local)
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
		if mine[2].Seq != 5 || mine[2].PrevHash != mine[1].Hash || mine[2].Hash != audit.HashEvent(mine[2]) {
			t.Errorf("event read back is not chained to the one before: %+v after %+v", mine[2], mine[1])
		}
		if !reflect.DeepEqual(mine[2], access.AuditEvent{ID: mine[2].ID, Seq: mine[2].Seq, PrevHash: mine[2].PrevHash, Hash: mine[2].Hash, At: extra[2].At, Actor: botP, Action: extra[2].Action,
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
