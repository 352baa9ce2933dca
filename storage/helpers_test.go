package storage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jitbot/jitbot/access"
)

// t0 is the tests' reference time; every time they store derives from it.
var t0 = time.Date(2025, 3, 1, 9, 30, 0, 123456000, time.UTC)

var (
	alice = access.Person{ObjectID: "00000000-0000-0000-0000-00000000a11c", Name: "Alice"}
	bob   = access.Person{ObjectID: "00000000-0000-0000-0000-000000000b0b", Name: "Bob"}
	carol = access.Person{ObjectID: "00000000-0000-0000-0000-0000000ca201", Name: "Carol"}
	botP  = access.Person{ObjectID: "bot", Name: "jitbot"}
)

// The replicas of the tests, and how long a claim lasts.
const (
	ownerA = "replica-a"
	ownerB = "replica-b"
	lease  = 5 * time.Minute
)

func newRequest(user access.Person, profile string, created time.Time) *access.Request {
	return &access.Request{
		Profile:       profile,
		GroupID:       "group-" + profile,
		Requester:     user,
		Duration:      2 * time.Hour,
		Ticket:        "INC-42",
		Justification: "investigate the outage",
		CreatedAt:     created,
		RequesterChat: access.ConversationRef{
			ServiceURL:     "https://smba.trafficmanager.net/emea/",
			ChannelID:      "msteams",
			ConversationID: "a:personal-" + user.ObjectID,
			TenantID:       "tenant-1",
			BotID:          "28:bot",
			BotName:        "jitbot",
			UserID:         "29:" + user.ObjectID,
			UserName:       user.Name,
		},
	}
}

func createdEvent(req *access.Request) access.AuditEvent {
	return access.AuditEvent{
		At:           req.CreatedAt,
		Actor:        req.Requester,
		Action:       access.ActionRequested,
		Profile:      req.Profile,
		GroupID:      req.GroupID,
		TargetUserID: req.Requester.ObjectID,
	}
}

// mustCreate stores req and returns it as read back.
func mustCreate(t *testing.T, db *DB, req *access.Request) *access.Request {
	t.Helper()
	existing, err := db.CreateRequest(context.Background(), req, createdEvent(req))
	if err != nil {
		t.Fatalf("CreateRequest: %v (existing %v)", err, existing)
	}
	if req.ID == "" {
		t.Fatal("CreateRequest left the request without an ID")
	}
	return mustGet(t, db, req.ID)
}

func mustGet(t *testing.T, db *DB, id string) *access.Request {
	t.Helper()
	got, err := db.GetRequest(context.Background(), id)
	if err != nil {
		t.Fatalf("GetRequest(%s): %v", id, err)
	}
	return got
}

// grantFor is the grant an approver's decision at decided produces.
func grantFor(req *access.Request, decided time.Time) *access.Grant {
	return &access.Grant{
		ID:         uuid.NewString(),
		Profile:    req.Profile,
		GroupID:    req.GroupID,
		User:       req.Requester,
		State:      access.GrantGranting,
		ApprovedAt: decided,
		ExpiresAt:  decided.Add(req.Duration),
		DueAt:      decided.Add(req.Duration),
	}
}

func decision(approver access.Person, v access.Verdict, at time.Time) access.Decision {
	return access.Decision{Approver: approver, Verdict: v, Reason: "reason " + string(v), DecidedAt: at}
}

func decidedEvent(req *access.Request, d access.Decision) access.AuditEvent {
	action := access.ActionApproved
	if d.Verdict == access.Deny {
		action = access.ActionDenied
	}
	return access.AuditEvent{
		At: d.DecidedAt, Actor: d.Approver, Action: action, RequestID: req.ID,
		Profile: req.Profile, GroupID: req.GroupID, TargetUserID: req.Requester.ObjectID, Reason: d.Reason,
	}
}

// mustApprove approves req at decided for ownerA and returns the stored
// request.
func mustApprove(t *testing.T, db *DB, req *access.Request, decided time.Time) *access.Request {
	t.Helper()
	d := decision(bob, access.Approve, decided)
	got, err := access.RecordDecision(context.Background(), db, req.ID, d, grantFor(req, decided), ownerA, decided.Add(lease), decidedEvent(req, d))
	if err != nil {
		t.Fatalf("Decide(approve %s): %v", req.ID, err)
	}
	if got.Grant == nil {
		t.Fatalf("approved request %s has no grant", req.ID)
	}
	return got
}

// mustActiveGrant creates, approves and completes a request of user for
// profile whose grant expires at expires, and returns the grant.
func mustActiveGrant(t *testing.T, db *DB, user access.Person, profile string, expires time.Time) access.Grant {
	t.Helper()
	ctx := context.Background()
	req := newRequest(user, profile, expires.Add(-3*time.Hour))
	req.Duration = time.Hour
	mustCreate(t, db, req)
	approved := mustApprove(t, db, req, expires.Add(-req.Duration))
	g := approved.Grant
	if g.State == access.GrantGranting {
		if err := db.RecordCheck(ctx, g.ID, ownerA, false); err != nil {
			t.Fatalf("RecordCheck: %v", err)
		}
		ev := access.AuditEvent{Actor: botP, Action: access.ActionGranted, RequestID: req.ID, TargetUserID: user.ObjectID}
		if err := access.CompleteGrant(ctx, db, g.ID, ownerA, g.ApprovedAt.Add(time.Second), ev); err != nil {
			t.Fatalf("CompleteGrant: %v", err)
		}
	}
	got := mustGet(t, db, req.ID)
	if got.Grant.State != access.GrantActive {
		t.Fatalf("grant state after CompleteGrant = %s, want active", got.Grant.State)
	}
	return *got.Grant
}

// mustGrant reads a grant back.
func mustGrant(t *testing.T, db *DB, id string) *access.Grant {
	t.Helper()
	g, err := db.GetGrant(context.Background(), id)
	if err != nil {
		t.Fatalf("GetGrant(%s): %v", id, err)
	}
	return g
}

// mustClaim claims up to limit grants for owner at now.
func mustClaim(t *testing.T, db *DB, owner string, now time.Time, limit int) []access.Grant {
	t.Helper()
	gs, err := db.ClaimWork(context.Background(), owner, now, now.Add(lease), limit)
	if err != nil {
		t.Fatalf("ClaimWork(%s): %v", owner, err)
	}
	return gs
}

// sharedRequest is a request of user for profile whose group is groupID, so
// that several profiles can grant the same membership.
func sharedRequest(user access.Person, profile, groupID string, created time.Time) *access.Request {
	req := newRequest(user, profile, created)
	req.GroupID = groupID
	return req
}

// revokeEvent is the event of an expiry step.
func revokeEvent(action access.Action) access.AuditEvent {
	return access.AuditEvent{Actor: botP, Action: action, Reason: "expired"}
}

// auditActions lists the actions of a request's audit events, oldest first.
func auditActions(t *testing.T, db *DB, requestID string) []access.Action {
	t.Helper()
	evs, err := db.Audit(context.Background(), access.AuditFilter{RequestID: requestID})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	out := make([]access.Action, len(evs))
	for i, ev := range evs {
		out[i] = ev.Action
	}
	return out
}

// lastEvent returns a request's latest audit event.
func lastEvent(t *testing.T, db *DB, requestID string) access.AuditEvent {
	t.Helper()
	evs, err := db.Audit(context.Background(), access.AuditFilter{RequestID: requestID})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	if len(evs) == 0 {
		t.Fatalf("request %s has no audit events", requestID)
	}
	return evs[len(evs)-1]
}

// auditCount counts the audit events of a request with the given action.
func auditCount(t *testing.T, db *DB, requestID string, action access.Action) int {
	t.Helper()
	evs, err := db.Audit(context.Background(), access.AuditFilter{RequestID: requestID})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Action == action {
			n++
		}
	}
	return n
}

func ids(gs []access.Grant) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.ID
	}
	return out
}

func equalStrings(a, b []string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// race runs fn n times at once and returns the results in call order.
func race[T any](n int, fn func(i int) T) []T {
	out := make([]T, n)
	start := make(chan struct{})
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			out[i] = fn(i)
		}()
	}
	close(start)
	for range n {
		<-done
	}
	return out
}

// numberedPerson is the n-th of a set of distinct users.
func numberedPerson(n int) access.Person {
	return access.Person{ObjectID: fmt.Sprintf("00000000-0000-4000-8000-%012d", n), Name: fmt.Sprintf("User %d", n)}
}

// setGrantColumns writes cols into the rows of grants ids directly.
func setGrantColumns(t testing.TB, db *DB, cols map[string]any, ids ...string) {
	t.Helper()
	if err := db.gorm.Model(&grantRow{}).Where("id IN ?", ids).Updates(cols).Error; err != nil {
		t.Fatal(err)
	}
}
