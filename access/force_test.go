package access_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

const adminGrp = "aaaaaaaa-0000-4000-8000-00000000000a"

func (e *env) force(id string, who access.Person, reason string) (*access.Request, error) {
	return e.svc.ForceApprove(context.Background(), access.DecisionInput{TenantID: tenant, RequestID: id, Approver: who, Verdict: access.Approve, Reason: reason})
}

// TestForceApproveRefusalsAreAudited: every refusal of an identified
// admin's force-approval (no reason, their approval counts already, not
// pending, an extension) is on record as request.force_approve_refused by
// them, and nothing else changes.
func TestForceApproveRefusalsAreAudited(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		e.openWith(func(c *access.Config) {
			c.AdminGroups = []string{adminGrp}
			c.Profiles[0].RequiredApprovals = 2
			c.Profiles[0].MaxDuration = time.Hour
			c.Profiles[0].RemindBefore, c.Profiles[0].SelfExtendMax, c.Profiles[0].MaxTotalDuration = 10*time.Minute, 15*time.Minute, 2*time.Hour
		})
		for _, u := range []string{alex.ObjectID, sam.ObjectID} {
			if err := e.dir.SetMember(context.Background(), adminGrp, u); err != nil {
				t.Fatal(err)
			}
		}
		// refused checks that who's force-approval of id is refused with
		// want, audited once as refused by them, and changes nothing else.
		refused := func(id string, who access.Person, reason string, want error) {
			t.Helper()
			before, _ := e.store.GetRequest(context.Background(), id)
			audits, notices := e.auditCount(), len(e.notes.Notices(id))
			if _, err := e.force(id, who, reason); !errors.Is(err, want) {
				t.Fatalf("%s's force-approval: %v, want %v", who.Name, err, want)
			}
			evs := e.auditEvents(id)
			if e.auditCount() != audits+1 || len(evs) == 0 {
				t.Fatalf("%s's refused force-approval: %d audit events, want %d", who.Name, e.auditCount(), audits+1)
			}
			if last := evs[len(evs)-1]; last.Action != access.ActionForceRefused || last.Actor.ObjectID != who.ObjectID || last.Reason == "" {
				t.Fatalf("last audit event %s by %s (%q), want %s by %s", last.Action, last.Actor.ObjectID, last.Reason, access.ActionForceRefused, who.Name)
			}
			after, _ := e.store.GetRequest(context.Background(), id)
			if after.State != before.State || len(after.Decisions) != len(before.Decisions) || len(e.notes.Notices(id)) != notices {
				t.Fatalf("%s's refused force-approval changed the request: %s -> %s, %d -> %d decisions", who.Name, before.State, after.State, len(before.Decisions), len(after.Decisions))
			}
		}

		req := e.submit(riley, time.Hour)
		refused(req.ID, sam, "  ", access.ErrInvalidInput)
		if _, err := e.decide(req.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		refused(req.ID, alex, "SEV1", access.ErrAlreadyApproved)
		if got, err := e.force(req.ID, sam, "SEV1"); err != nil || got.State != access.RequestActive {
			t.Fatalf("force-approval: %v %+v", err, got)
		}
		refused(req.ID, sam, "SEV1 again", access.ErrNotPending)

		res, err := e.extend(req.ID, riley, 30*time.Minute, "one more migration")
		if err != nil || res.Pending == nil {
			t.Fatalf("extension request: %v %+v", err, res)
		}
		refused(res.Pending.ID, sam, "SEV1", access.ErrInvalidInput)
		if e.isMember(riley.ObjectID) != true || !e.grantEnd(req.ID).Equal(start.Add(time.Hour)) {
			t.Fatal("a refused force-approval of the extension changed the grant")
		}
	})
}

// grantEnd is when the grant of request id ends as stored.
func (e *env) grantEnd(id string) time.Time {
	e.t.Helper()
	r, err := e.store.GetRequest(context.Background(), id)
	if err != nil || r.Grant == nil {
		e.t.Fatalf("request %s: %v", id, err)
	}
	return r.Grant.ExpiresAt
}
