package access_test

import (
	"context"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/access/accesstest"
)

// slowDir advances the clock while the approver's groups are looked up, as
// a slow Graph call does.
type slowDir struct {
	access.Directory
	clock *accesstest.Clock
	by    time.Duration
}

func (d slowDir) MemberGroups(ctx context.Context, u string, groups []string) ([]string, error) {
	d.clock.Advance(d.by)
	return d.Directory.MemberGroups(ctx, u, groups)
}

// An approval clicked a second before the deadline but committed after it
// (the group check took two seconds) must not grant.
func TestApprovalStoredAfterTheDeadlineIsRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind)
		e.openWith(func(c *access.Config) {
			withDeadline(time.Hour, 0)(c)
			c.Directory = slowDir{Directory: c.Directory, clock: e.clock, by: 2 * time.Second}
		})
		req := e.submit(riley, time.Hour)
		e.clock.Set(req.DecideBy.Add(-time.Second))
		got, err := e.decide(req.ID, alex, access.Approve, "")
		if err == nil {
			t.Fatalf("approval stored at %s, after the deadline %s: state %s", e.clock.Now(), req.DecideBy, got.State)
		}
		if cur, _ := e.store.GetRequest(context.Background(), req.ID); cur.State != access.RequestTimedOut || cur.Grant != nil {
			t.Fatalf("request %s with grant %v, want timed out without a grant", cur.State, cur.Grant)
		}
	})
}

// After downtime the three reminders must not all go out at once.
func TestRemindersAfterDowntimeComeOneAtATime(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind storeKind) {
		e := newEnv(t, kind)
		e.openWith(withDeadline(4*time.Hour, 15*time.Minute))
		req := e.submit(riley, time.Hour)
		e.workAt(2 * time.Hour)
		if got := e.notes.Reminders(req.ID); len(got) > 1 {
			t.Fatalf("one WorkPending at +2h sent reminders %v back to back", got)
		}
	})
}

// Two grants of the same group (two profiles share it): ending either one
// early must leave riley in the group while the other is active.
func TestEarlyEndOfASharedMembershipLeavesItForTheOther(t *testing.T) {
	for _, first := range []bool{true, false} {
		forEachStore(t, func(t *testing.T, kind storeKind) {
			e := newEnv(t, kind)
			p2 := prodProfile()
			p2.Name = "prod-db-rw"
			e.openWith(func(c *access.Config) { c.Profiles = append(c.Profiles, p2) })
			a := activeGrant(t, e)
			b, err := e.svc.Submit(context.Background(), access.Submission{
				TenantID: tenant, Requester: riley, Profile: "prod-db-rw", Duration: 2 * time.Hour, Ticket: "INC-1", Justification: "rw",
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.decide(b.ID, alex, access.Approve, ""); err != nil {
				t.Fatal(err)
			}
			end, other := a.ID, b.ID
			if !first {
				end, other = b.ID, a.ID
			}
			if _, err := e.revokeNow(end, alex, "done"); err != nil {
				t.Fatal(err)
			}
			if g := mustGrant(t, e, other); g.State != access.GrantActive || !e.isMember(riley.ObjectID) {
				t.Fatalf("first=%v: other grant %s, member %v", first, g.State, e.isMember(riley.ObjectID))
			}
			if _, err := e.release(other, riley); err != nil {
				t.Fatal(err)
			}
			if e.isMember(riley.ObjectID) {
				t.Fatalf("first=%v: still a member after both ended", first)
			}
		})
	}
}

// A Revoke now by someone who may not revoke is audited, whatever the
// reason field held.
func TestRevokeNowByAnOutsiderIsAuditedWhateverTheReason(t *testing.T) {
	e := newEnv(t, onMemory)
	req := activeGrant(t, e)
	outsider := access.Person{ObjectID: "bbbbbbbb-0000-4000-8000-0000000000ee", Name: "Eve"}
	if _, err := e.revokeNow(req.ID, outsider, ""); err == nil {
		t.Fatal("revoked")
	}
	if got := count(e.audit(req.ID), access.ActionRevokeRefused); got != 1 {
		t.Fatalf("%d revoke_now_refused events for an outsider's refused click, want 1", got)
	}
}
