package access_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/access/accesstest"
	"github.com/jitbot/jitbot/storage"
)

const (
	tenant        = "4f3c2b1a-0d9e-4c8b-9a7f-6e5d4c3b2a10"
	prodGroup     = "aaaaaaaa-0000-4000-8000-000000000001"
	requesterGrp  = "aaaaaaaa-0000-4000-8000-000000000002"
	approverGroup = "aaaaaaaa-0000-4000-8000-000000000003"
)

var (
	riley = access.Person{ObjectID: "11111111-1111-4111-8111-111111111111", Name: "Riley Responder"}
	alex  = access.Person{ObjectID: "22222222-2222-4222-8222-222222222222", Name: "Alex Approver"}
	sam   = access.Person{ObjectID: "33333333-3333-4333-8333-333333333333", Name: "Sam Second"}
	eve   = access.Person{ObjectID: "44444444-4444-4444-8444-444444444444", Name: "Eve Outsider"}
	start = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
)

// demoDirectory is a directory whose memberships tests set directly.
type demoDirectory interface {
	access.Directory
	SetMember(ctx context.Context, groupID, userID string) error
	Members(ctx context.Context, groupID string) ([]string, error)
}

// directory is a demo directory with injectable failures.
type directory struct {
	demoDirectory
	failRemove atomic.Int32 // fail this many RemoveMember calls
	failAdd    atomic.Int32
	removes    atomic.Int32
	removeErr  error // what a failing RemoveMember returns
	// groupsDown fails every MemberGroups question about this user.
	groupsDown atomic.Value
}

func (d *directory) AddMember(ctx context.Context, g, u string) (bool, error) {
	if d.failAdd.Load() > 0 {
		d.failAdd.Add(-1)
		return false, errors.New("graph: 503 service unavailable")
	}
	return d.demoDirectory.AddMember(ctx, g, u)
}

func (d *directory) RemoveMember(ctx context.Context, g, u string) error {
	d.removes.Add(1)
	if d.failRemove.Load() > 0 {
		d.failRemove.Add(-1)
		if d.removeErr != nil {
			return d.removeErr
		}
		return errors.New("graph: 429 too many requests")
	}
	return d.demoDirectory.RemoveMember(ctx, g, u)
}

// mapDirectory is a demo directory in memory, for the runs on the
// in-memory store: direct memberships only, like the database's.
type mapDirectory struct {
	mu      sync.Mutex
	members map[string]map[string]bool // group -> users
}

func (d *mapDirectory) AddMember(_ context.Context, g, u string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.members == nil {
		d.members = map[string]map[string]bool{}
	}
	if d.members[g] == nil {
		d.members[g] = map[string]bool{}
	}
	had := d.members[g][u]
	d.members[g][u] = true
	return had, nil
}

func (d *mapDirectory) RemoveMember(_ context.Context, g, u string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.members[g], u)
	return nil
}

func (d *mapDirectory) IsMember(_ context.Context, g, u string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.members[g][u], nil
}

func (d *mapDirectory) GroupMembers(ctx context.Context, g string) ([]string, error) {
	return d.Members(ctx, g)
}

func (d *mapDirectory) MemberGroups(_ context.Context, u string, groups []string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, g := range groups {
		if d.members[g][u] && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out, nil
}

func (d *mapDirectory) SetMember(ctx context.Context, g, u string) error {
	_, err := d.AddMember(ctx, g, u)
	return err
}

func (d *mapDirectory) Members(_ context.Context, g string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slices.Sorted(maps.Keys(d.members[g]))
	return out, nil
}

// storeKind names the store a test runs on.
type storeKind string

const (
	onSQLite storeKind = "sqlite" // storage.DB on a SQLite file
	onMemory storeKind = "memory" // accesstest.Store
)

// forEachStore runs fn once on each store.
func forEachStore(t *testing.T, fn func(t *testing.T, store storeKind)) {
	for _, k := range []storeKind{onSQLite, onMemory} {
		t.Run(string(k), func(t *testing.T) { fn(t, k) })
	}
}

type env struct {
	t     *testing.T
	kind  storeKind
	store access.Store
	dir   *directory
	clock *accesstest.Clock
	notes *accesstest.Notifier
	svc   *access.Service
	// dbPath and db are the SQLite file and the database opened on it;
	// mem and memDir the in-memory store and directory, kept across
	// restarts as a database file is.
	dbPath string
	db     *storage.DB
	mem    *accesstest.Store
	memDir *mapDirectory
}

func prodProfile() access.Profile {
	return access.Profile{
		Name: "prod-db", Description: "Read access to production databases", GroupID: prodGroup,
		MinDuration: 15 * time.Minute, MaxDuration: 4 * time.Hour, RequireTicket: true,
		TicketPattern:   regexp.MustCompile(`^INC-[0-9]+$`),
		RequesterGroups: []string{requesterGrp}, ApproverGroups: []string{approverGroup},
		ApproverChannelID: "19:approvers@thread.tacv2",
	}
}

func newEnv(t *testing.T, kind storeKind) *env {
	t.Helper()
	e := &env{t: t, kind: kind, clock: accesstest.NewClock(start), notes: accesstest.NewNotifier()}
	switch kind {
	case onSQLite:
		e.dbPath = filepath.Join(t.TempDir(), "jitbot.db")
	case onMemory:
		e.mem, e.memDir = accesstest.NewStore(), &mapDirectory{}
	}
	e.open()
	ctx := context.Background()
	for _, m := range []struct{ g, u string }{{requesterGrp, riley.ObjectID}, {requesterGrp, sam.ObjectID}, {approverGroup, alex.ObjectID}, {approverGroup, sam.ObjectID}, {approverGroup, riley.ObjectID}} {
		if err := e.dir.SetMember(ctx, m.g, m.u); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// open (re)opens the store and builds a fresh service on it, as a
// restarted process would.
func (e *env) open() { e.openWith(nil) }

// openWith is open with changes to the service's configuration.
func (e *env) openWith(tune func(*access.Config)) {
	e.t.Helper()
	switch e.kind {
	case onSQLite:
		db, err := storage.Open(context.Background(), "sqlite:"+e.dbPath, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { _ = db.Close() })
		e.db, e.store = db, db
		e.dir = &directory{demoDirectory: db.DemoDirectory()}
	case onMemory:
		e.store = e.mem
		e.dir = &directory{demoDirectory: e.memDir}
	}
	cfg := access.Config{
		TenantID: tenant, Profiles: []access.Profile{prodProfile()}, Store: e.store, Directory: e.dir,
		Notifier: e.notes, Clock: e.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewID: uuid.NewString, RevokeBackoff: time.Minute, RevokeBackoffMax: 10 * time.Minute,
		Jitter: func() float64 { return 0.5 }, SecurityChannelID: "19:security@thread.tacv2",
	}
	if tune != nil {
		tune(&cfg)
	}
	svc, err := access.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
}

// close stops using the store, as a stopped process does.
func (e *env) close() {
	e.t.Helper()
	if e.db != nil {
		if err := e.db.Close(); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) submit(who access.Person, dur time.Duration) *access.Request {
	e.t.Helper()
	req, err := e.svc.Submit(context.Background(), access.Submission{
		TenantID: tenant, Requester: who, Profile: "prod-db", Duration: dur, Ticket: "INC-4711",
		Justification: "checkout latency spike",
	})
	if err != nil {
		e.t.Fatalf("submit: %v", err)
	}
	return req
}

func (e *env) decide(id string, who access.Person, v access.Verdict, reason string) (*access.Request, error) {
	return e.svc.Decide(context.Background(), access.DecisionInput{TenantID: tenant, RequestID: id, Approver: who, Verdict: v, Reason: reason})
}

func (e *env) audit(id string) []access.Action {
	e.t.Helper()
	evs, err := e.store.Audit(context.Background(), access.AuditFilter{RequestID: id})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []access.Action
	for _, ev := range evs {
		out = append(out, ev.Action)
	}
	return out
}

func (e *env) auditEvents(id string) []access.AuditEvent {
	e.t.Helper()
	evs, err := e.store.Audit(context.Background(), access.AuditFilter{RequestID: id})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func (e *env) isMember(u string) bool {
	e.t.Helper()
	ms, err := e.dir.Members(context.Background(), prodGroup)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range ms {
		if m == u {
			return true
		}
	}
	return false
}

func (e *env) auditCount() int {
	e.t.Helper()
	evs, err := e.store.Audit(context.Background(), access.AuditFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(evs)
}

// changeCount counts the audit events of state changes: every event but
// the records of refused attempts.
func (e *env) changeCount() int {
	e.t.Helper()
	evs, err := e.store.Audit(context.Background(), access.AuditFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Action != access.ActionRequestRefused && ev.Action != access.ActionDecisionRefused {
			n++
		}
	}
	return n
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSubmitRefusals(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		base := access.Submission{TenantID: tenant, Requester: riley, Profile: "prod-db", Duration: time.Hour, Ticket: "INC-1", Justification: "debug"}
		cases := []struct {
			name string
			edit func(*access.Submission)
			want error
		}{
			{"other tenant", func(s *access.Submission) { s.TenantID = "99999999-9999-4999-8999-999999999999" }, access.ErrWrongTenant},
			{"no tenant", func(s *access.Submission) { s.TenantID = "" }, access.ErrWrongTenant},
			{"unknown profile", func(s *access.Submission) { s.Profile = "nope" }, access.ErrUnknownProfile},
			{"too short", func(s *access.Submission) { s.Duration = 5 * time.Minute }, access.ErrInvalidInput},
			{"too long", func(s *access.Submission) { s.Duration = 5 * time.Hour }, access.ErrInvalidInput},
			{"no justification", func(s *access.Submission) { s.Justification = "  " }, access.ErrInvalidInput},
			{"justification over the limit in characters", func(s *access.Submission) {
				s.Justification = strings.Repeat("é", access.MaxJustification+1)
			}, access.ErrInvalidInput},
			{"ticket over the limit", func(s *access.Submission) { s.Ticket = "INC-" + strings.Repeat("1", access.MaxTicket) }, access.ErrInvalidInput},
			{"no ticket", func(s *access.Submission) { s.Ticket = "" }, access.ErrInvalidInput},
			{"bad ticket", func(s *access.Submission) { s.Ticket = "JIRA-1" }, access.ErrInvalidInput},
			{"not a requester", func(s *access.Submission) { s.Requester = eve }, access.ErrNotEligible},
			{"no object id", func(s *access.Submission) { s.Requester = access.Person{Name: "guest"} }, access.ErrNoIdentity},
			{"object id not a GUID", func(s *access.Submission) { s.Requester = access.Person{ObjectID: "29:1abc", Name: "guest"} }, access.ErrNoIdentity},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				sub := base
				c.edit(&sub)
				req, err := e.svc.Submit(context.Background(), sub)
				var r *access.Refusal
				if !errors.As(err, &r) || !errors.Is(err, c.want) {
					t.Fatalf("want refusal %v, got %v (%v)", c.want, err, req)
				}
				if r.Reason == "" {
					t.Fatal("refusal without a reason for the user")
				}
				if n := e.changeCount(); n != 0 {
					t.Fatalf("a refused submission wrote %d audit events of changes", n)
				}
			})
		}
	})
}

func TestDuplicatePendingShowsExisting(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		first := e.submit(riley, time.Hour)
		_, err := e.svc.Submit(context.Background(), access.Submission{TenantID: tenant, Requester: riley, Profile: "prod-db", Duration: 2 * time.Hour, Ticket: "INC-2", Justification: "again"})
		var r *access.Refusal
		if !errors.As(err, &r) || !errors.Is(err, access.ErrDuplicate) {
			t.Fatalf("want duplicate refusal, got %v", err)
		}
		if r.Request == nil || r.Request.ID != first.ID {
			t.Fatalf("refusal does not show the existing request: %+v", r.Request)
		}
	})
}

func TestApproveGrantExpire(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := e.submit(riley, time.Hour)
		if req.State != access.RequestPending || req.ApprovalActivityID == "" {
			t.Fatalf("submitted request: state %s card %q", req.State, req.ApprovalActivityID)
		}
		e.clock.Advance(3 * time.Minute) // the clock starts at approval, not at the request
		got, err := e.decide(req.ID, alex, access.Approve, "")
		if err != nil {
			t.Fatal(err)
		}
		approvedAt := start.Add(3 * time.Minute)
		if got.State != access.RequestActive || got.Grant == nil || got.Grant.State != access.GrantActive {
			t.Fatalf("after approval: %+v", got)
		}
		if !got.Grant.ExpiresAt.Equal(approvedAt.Add(time.Hour)) {
			t.Fatalf("expires at %v, want approval time + 1h = %v", got.Grant.ExpiresAt, approvedAt.Add(time.Hour))
		}
		if !e.isMember(riley.ObjectID) {
			t.Fatal("riley is not in the group after approval")
		}
		if d := got.LastDecision(); d == nil || d.Approver.ObjectID != alex.ObjectID || d.Verdict != access.Approve {
			t.Fatalf("decision not recorded: %+v", got.Decisions)
		}

		// Not yet due.
		e.clock.Advance(59 * time.Minute)
		if n, err := e.svc.Work(context.Background()); err != nil || n != 0 {
			t.Fatalf("revoked %d before expiry (err %v)", n, err)
		}
		if !e.isMember(riley.ObjectID) {
			t.Fatal("removed before expiry")
		}
		e.clock.Advance(time.Minute)
		if n, err := e.svc.Work(context.Background()); err != nil || n != 1 {
			t.Fatalf("revoked %d at expiry (err %v)", n, err)
		}
		if e.isMember(riley.ObjectID) {
			t.Fatal("still a member after expiry")
		}
		final, err := e.store.GetRequest(context.Background(), req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if final.State != access.RequestExpired || final.Grant.State != access.GrantRevoked {
			t.Fatalf("after expiry: request %s grant %s", final.State, final.Grant.State)
		}
		wantNotices := []access.NoticeKind{access.NoticeReceived, access.NoticeApproved, access.NoticeGranted, access.NoticeRevoked, access.NoticeFeedback}
		if got := e.notes.Notices(req.ID); !equal(got, wantNotices) {
			t.Fatalf("notices %v, want %v", got, wantNotices)
		}
		wantAudit := []access.Action{access.ActionRequested, access.ActionApproved, access.ActionGranted, access.ActionRevoking, access.ActionRevoked}
		if got := e.audit(req.ID); !equal(got, wantAudit) {
			t.Fatalf("audit %v, want %v", got, wantAudit)
		}
		cards := e.notes.CardStates(req.ID)
		if len(cards) < 3 || cards[0] != access.RequestPending || cards[len(cards)-1] != access.RequestExpired {
			t.Fatalf("approval card states %v: want pending first, expired last", cards)
		}
	})
}

func TestDecisionRefusals(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := e.submit(riley, time.Hour)
		before := e.changeCount()
		for _, c := range []struct {
			name string
			in   access.DecisionInput
			want error
		}{
			{"requester approves own", access.DecisionInput{TenantID: tenant, RequestID: req.ID, Approver: riley, Verdict: access.Approve}, access.ErrSelfApproval},
			{"not an approver", access.DecisionInput{TenantID: tenant, RequestID: req.ID, Approver: eve, Verdict: access.Approve}, access.ErrNotApprover},
			{"no object id", access.DecisionInput{TenantID: tenant, RequestID: req.ID, Approver: access.Person{Name: "x"}, Verdict: access.Approve}, access.ErrNoIdentity},
			{"object id not a GUID", access.DecisionInput{TenantID: tenant, RequestID: req.ID, Approver: access.Person{ObjectID: "alex", Name: "x"}, Verdict: access.Approve}, access.ErrNoIdentity},
			{"reason over the limit", access.DecisionInput{TenantID: tenant, RequestID: req.ID, Approver: alex, Verdict: access.Deny, Reason: strings.Repeat("ü", access.MaxReason+1)}, access.ErrInvalidInput},
			{"other tenant", access.DecisionInput{TenantID: "99999999-9999-4999-8999-999999999999", RequestID: req.ID, Approver: alex, Verdict: access.Approve}, access.ErrWrongTenant},
			{"unknown request", access.DecisionInput{TenantID: tenant, RequestID: "nope", Approver: alex, Verdict: access.Approve}, access.ErrNotFound},
			{"bad verdict", access.DecisionInput{TenantID: tenant, RequestID: req.ID, Approver: alex, Verdict: "maybe"}, access.ErrInvalidInput},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := e.svc.Decide(context.Background(), c.in)
				if !errors.Is(err, c.want) {
					t.Fatalf("want %v, got %v", c.want, err)
				}
			})
		}
		if e.changeCount() != before || e.isMember(riley.ObjectID) {
			t.Fatal("a refused decision changed something")
		}
		cur, _ := e.store.GetRequest(context.Background(), req.ID)
		if cur.State != access.RequestPending {
			t.Fatalf("state %s after refused decisions", cur.State)
		}
		// The attempts by identified people who may not decide are on record.
		refused := map[string]bool{}
		for _, a := range e.auditEvents(req.ID) {
			if a.Action == access.ActionDecisionRefused {
				refused[a.Actor.ObjectID] = true
			}
		}
		if len(refused) != 2 || !refused[riley.ObjectID] || !refused[eve.ObjectID] {
			t.Fatalf("refused decisions on record by %v, want riley and eve", refused)
		}
	})
}

func TestDenyThenStaleClick(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := e.submit(riley, time.Hour)
		got, err := e.decide(req.ID, alex, access.Deny, "use the read replica")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != access.RequestDenied || got.LastDecision().Reason != "use the read replica" {
			t.Fatalf("after deny: %+v", got)
		}
		before := e.auditCount()
		_, err = e.decide(req.ID, sam, access.Approve, "")
		var r *access.Refusal
		if !errors.As(err, &r) || !errors.Is(err, access.ErrNotPending) || r.Request == nil || r.Request.State != access.RequestDenied {
			t.Fatalf("stale approve: want not-pending refusal with the denied request, got %v", err)
		}
		if e.auditCount() != before || e.isMember(riley.ObjectID) {
			t.Fatal("stale click changed something")
		}
		if got := e.notes.Notices(req.ID); !equal(got, []access.NoticeKind{access.NoticeReceived, access.NoticeDenied}) {
			t.Fatalf("notices %v", got)
		}
	})
}

func TestTwoApproversAtOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := e.submit(riley, time.Hour)
		var wg sync.WaitGroup
		var wins, stale atomic.Int32
		for _, who := range []access.Person{alex, sam, alex, sam} {
			wg.Add(1)
			go func(who access.Person) {
				defer wg.Done()
				v, reason := access.Approve, ""
				if who == sam {
					v, reason = access.Deny, "not now"
				}
				_, err := e.decide(req.ID, who, v, reason)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, access.ErrNotPending):
					stale.Add(1)
				default:
					t.Errorf("decide: %v", err)
				}
			}(who)
		}
		wg.Wait()
		if wins.Load() != 1 || stale.Load() != 3 {
			t.Fatalf("wins %d stale %d: exactly one decision must win", wins.Load(), stale.Load())
		}
		cur, _ := e.store.GetRequest(context.Background(), req.ID)
		if len(cur.Decisions) != 1 {
			t.Fatalf("%d decisions stored", len(cur.Decisions))
		}
	})
}

func TestPreExistingMembershipIsKept(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		if err := e.dir.SetMember(context.Background(), prodGroup, riley.ObjectID); err != nil {
			t.Fatal(err)
		}
		req := e.submit(riley, time.Hour)
		got, err := e.decide(req.ID, alex, access.Approve, "")
		if err != nil {
			t.Fatal(err)
		}
		if !got.Grant.PreExisting {
			t.Fatal("pre-existing membership not recorded")
		}
		e.clock.Advance(2 * time.Hour)
		if n, err := e.svc.Work(context.Background()); err != nil || n != 1 {
			t.Fatalf("revoke: %d %v", n, err)
		}
		if !e.isMember(riley.ObjectID) {
			t.Fatal("a pre-existing membership was removed at expiry")
		}
		if e.dir.removes.Load() != 0 {
			t.Fatal("RemoveMember was called for a pre-existing membership")
		}
		if a := e.audit(req.ID); a[len(a)-1] != access.ActionRevokeSkipped || a[2] != access.ActionPreExisting {
			t.Fatalf("audit %v", a)
		}
	})
}

func TestRevokeRetriesWithBackoff(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := e.submit(riley, time.Hour)
		if _, err := e.decide(req.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		e.dir.failRemove.Store(2)
		e.clock.Advance(time.Hour)
		ctx := context.Background()
		if n, _ := e.svc.Work(ctx); n != 0 {
			t.Fatal("a failed removal counted as done")
		}
		g := mustGrant(t, e, req.ID)
		// backoff 1m, jitter 0.5 over the upper half: 45s.
		if g.Attempts != 1 || !g.DueAt.Equal(e.clock.Now().Add(45*time.Second)) || g.LastError == "" {
			t.Fatalf("after 1st failure: attempts %d due %v err %q", g.Attempts, g.DueAt, g.LastError)
		}
		e.clock.Advance(45 * time.Second)
		e.svc.Work(ctx)
		g = mustGrant(t, e, req.ID)
		if g.Attempts != 2 || !g.DueAt.Equal(e.clock.Now().Add(90*time.Second)) {
			t.Fatalf("after 2nd failure: attempts %d due in %v", g.Attempts, g.DueAt.Sub(e.clock.Now()))
		}
		e.clock.Advance(89 * time.Second)
		if n, _ := e.svc.Work(ctx); n != 0 || !e.isMember(riley.ObjectID) {
			t.Fatal("retried before its backoff")
		}
		e.clock.Advance(time.Second)
		if n, _ := e.svc.Work(ctx); n != 1 || e.isMember(riley.ObjectID) {
			t.Fatal("third attempt did not revoke")
		}
		a := e.audit(req.ID)
		if !equal(a[3:], []access.Action{access.ActionRevoking, access.ActionRevokeFailed, access.ActionRevoking, access.ActionRevokeFailed, access.ActionRevoking, access.ActionRevoked}) {
			t.Fatalf("audit %v", a)
		}
	})
}

func mustGrant(t *testing.T, e *env, id string) *access.Grant {
	t.Helper()
	r, err := e.store.GetRequest(context.Background(), id)
	if err != nil || r.Grant == nil {
		t.Fatalf("grant of %s: %v", id, err)
	}
	return r.Grant
}

func TestGrantFailureTellsRequester(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := e.submit(riley, time.Hour)
		e.dir.failAdd.Store(1)
		got, err := e.decide(req.ID, alex, access.Approve, "")
		if err != nil {
			t.Fatal(err)
		}
		if got.State != access.RequestFailed || got.Grant.State != access.GrantFailed {
			t.Fatalf("after failed add: %s / %s", got.State, got.Grant.State)
		}
		if n := e.notes.Notices(req.ID); n[len(n)-1] != access.NoticeFailed {
			t.Fatalf("notices %v", n)
		}
		// The requester may ask again.
		e.submit(riley, time.Hour)
	})
}

func TestPostFailureClosesRequest(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		e.notes.FailPost = true
		_, err := e.svc.Submit(context.Background(), access.Submission{TenantID: tenant, Requester: riley, Profile: "prod-db", Duration: time.Hour, Ticket: "INC-1", Justification: "x"})
		if !errors.Is(err, access.ErrApproversUnreachable) {
			t.Fatalf("want a refusal saying approvers could not be reached, got %v", err)
		}
		e.notes.FailPost = false
		e.submit(riley, time.Hour) // not blocked by a pending request nobody can see
	})
}

// TestRestartRevokesWhatFellDue stops the service with a grant active,
// lets the grant fall due while nothing runs, and starts a new service on the
// same database: it must revoke at once.
func TestRestartRevokesWhatFellDue(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		req := e.submit(riley, time.Hour)
		if _, err := e.decide(req.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		e.close()
		e.clock.Advance(3 * time.Hour) // down for three hours
		e.open()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.svc.Run(ctx) }()
		waitFor(t, func() bool { return mustGrant(t, e, req.ID).State == access.GrantRevoked })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if e.isMember(riley.ObjectID) {
			t.Fatal("grant recorded revoked but the member is still in the group")
		}
	})
}

// TestSchedulerSleepsUntilDue runs the scheduler loop on the fake clock: it
// arms a timer for the earliest grant, is woken by new grants, and revokes
// each one when the clock reaches it.
func TestSchedulerSleepsUntilDue(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- e.svc.Run(ctx) }()
		waitFor(t, func() bool { return e.clock.Timers() == 1 }) // idle wait

		long := e.submit(riley, 2*time.Hour)
		if _, err := e.decide(long.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		short := e.submit(sam, 30*time.Minute)
		if _, err := e.decide(short.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(29 * time.Minute)
		waitFor(t, func() bool { return e.clock.Timers() == 1 })
		if !e.isMember(sam.ObjectID) {
			t.Fatal("revoked early")
		}
		e.clock.Advance(time.Minute)
		waitFor(t, func() bool { return !e.isMember(sam.ObjectID) })
		if !e.isMember(riley.ObjectID) {
			t.Fatal("the longer grant was revoked with the shorter one")
		}
		waitFor(t, func() bool { return e.clock.Timers() == 1 })
		e.clock.Advance(90 * time.Minute)
		waitFor(t, func() bool { return !e.isMember(riley.ObjectID) })
		cancel()
		<-done
	})
}

// TestSchedulerServesEveryWakeOfABurst approves two requests one right
// after the other, the shorter last, while other changes wake the
// scheduler too: the wakes that come within the settling time of a pass
// are served together by the next one, and none is lost, so the timer is
// armed for the shorter grant. The lease is longer than both grants, so a
// lost wake would leave the timer at the lease's end and the shorter grant
// in place.
func TestSchedulerServesEveryWakeOfABurst(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		e.openWith(func(c *access.Config) { c.Lease = 3 * time.Hour })
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- e.svc.Run(ctx) }()
		waitFor(t, func() bool { return e.clock.Timers() == 1 }) // idle wait

		long := e.submit(riley, 2*time.Hour)
		short := e.submit(sam, 30*time.Minute)
		if _, err := e.decide(long.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			e.svc.Wake()
		}
		if _, err := e.decide(short.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return e.isMember(sam.ObjectID) && e.isMember(riley.ObjectID) })
		e.clock.Advance(30 * time.Minute)
		waitFor(t, func() bool { return !e.isMember(sam.ObjectID) })
		if !e.isMember(riley.ObjectID) {
			t.Fatal("the longer grant was revoked with the shorter one")
		}
		cancel()
		<-done
	})
}

// waitFor polls a condition that another goroutine makes true; it gives up
// after five seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{45 * time.Minute: "45m", 2 * time.Hour: "2h", 90 * time.Minute: "1h30m", 10 * time.Second: "10s"} {
		if got := access.FormatDuration(d); got != want {
			t.Errorf("%v: %s, want %s", d, got, want)
		}
	}
}

func TestEligibleProfiles(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		for _, c := range []struct {
			who  access.Person
			want int
		}{{riley, 1}, {eve, 0}} {
			ps, err := e.svc.EligibleProfiles(context.Background(), tenant, c.who)
			if err != nil || len(ps) != c.want {
				t.Errorf("%s: %d profiles (%v), want %d", c.who.Name, len(ps), err, c.want)
			}
		}
		if _, err := e.svc.EligibleProfiles(context.Background(), tenant, access.Person{Name: "no object id"}); !errors.Is(err, access.ErrNoIdentity) {
			t.Errorf("no object id: %v, want a refusal", err)
		}
	})
}

// staleRead is a store whose first GetRequest returns a snapshot taken
// earlier: what a click that read the request just before another settled
// it sees.
type staleRead struct {
	access.Store
	stale *access.Request
	used  bool
}

func (s *staleRead) GetRequest(ctx context.Context, id string) (*access.Request, error) {
	if !s.used && s.stale != nil && s.stale.ID == id {
		s.used = true
		return s.stale, nil
	}
	return s.Store.GetRequest(ctx, id)
}

// A second Approve by the approver whose first one settled the request
// meanwhile (a double click) is a late click, "decided first", and changes
// nothing: not a refused "already approved".
func TestDoubleClickApproveIsALateClick(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind)
		ctx := context.Background()
		req := e.submit(riley, time.Hour)
		stale, err := e.store.GetRequest(ctx, req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.decide(req.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		before := e.audit(req.ID)
		now := e.clock.Now().UTC()
		g := &access.Grant{ID: "second-grant", ExpiresAt: now.Add(time.Hour), DueAt: now.Add(time.Hour), ApprovedAt: now}
		d := access.Decision{Approver: alex, Verdict: access.Approve, DecidedAt: now}
		ev := access.AuditEvent{At: now, Actor: alex, Action: access.ActionApproved, RequestID: req.ID}
		_, _, err = access.RecordApproval(ctx, &staleRead{Store: e.store, stale: stale}, req.ID, d, 1, g, "jitbot", now.Add(time.Minute), ev)
		if !errors.Is(err, access.ErrNotPending) {
			t.Fatalf("second approval by the same approver: %v, want ErrNotPending", err)
		}
		if after := e.audit(req.ID); len(after) != len(before) {
			t.Fatalf("audit grew from %v to %v", before, after)
		}
		cur, _ := e.store.GetRequest(ctx, req.ID)
		if len(cur.Decisions) != 1 {
			t.Fatalf("%d decisions stored, want 1", len(cur.Decisions))
		}
	})
}

// TestApprovalOfARequestReadBeforeItWasDecided: Decide reads the request
// once, before its directory questions, and records the approval from that
// read; whether the request is still pending is decided with the membership
// locked. A request denied meanwhile by another approver gets no grant, no
// second decision and no audit event from the late approval.
func TestApprovalOfARequestReadBeforeItWasDecided(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind)
		ctx := context.Background()
		req := e.submit(riley, time.Hour)
		read, err := e.store.GetRequest(ctx, req.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.decide(req.ID, sam, access.Deny, "not now"); err != nil {
			t.Fatal(err)
		}
		before := e.audit(req.ID)
		now := e.clock.Now().UTC()
		g := &access.Grant{ID: "late-grant", ExpiresAt: now.Add(time.Hour), DueAt: now.Add(time.Hour), ApprovedAt: now}
		d := access.Decision{Approver: alex, Verdict: access.Approve, DecidedAt: now}
		ev := access.AuditEvent{At: now, Actor: alex, Action: access.ActionApproved, RequestID: req.ID}
		if _, _, err := access.RecordApprovalOf(ctx, e.store, read, d, 1, g, "jitbot", now.Add(time.Minute), ev); !errors.Is(err, access.ErrNotPending) {
			t.Fatalf("approval of a request denied since it was read: %v, want ErrNotPending", err)
		}
		if after := e.audit(req.ID); len(after) != len(before) {
			t.Errorf("audit grew from %v to %v", before, after)
		}
		cur, err := e.store.GetRequest(ctx, req.ID)
		if err != nil || cur.State != access.RequestDenied || len(cur.Decisions) != 1 || cur.Grant != nil {
			t.Errorf("request now %+v (%v); want denied once, no grant", cur, err)
		}
		if _, err := e.store.GetGrant(ctx, g.ID); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("late grant: %v, want ErrNotFound", err)
		}
	})
}
