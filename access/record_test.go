package access_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// TestGrantRecordsAndEachRequest drives requests through their lifecycle
// and reads them back as a security team's export would: one row per
// request with who asked, who decided and why, how long each step took and
// how it ended, filtered by period, profile and person.
func TestGrantRecordsAndEachRequest(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		ctx := context.Background()

		expired := e.submit(riley, time.Hour)
		e.clock.Advance(3 * time.Minute)
		if _, err := e.decide(expired.ID, alex, access.Approve, "incident confirmed"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Hour)
		if n, err := e.svc.Work(ctx); err != nil || n != 1 {
			t.Fatalf("expiry: %d %v", n, err)
		}
		if _, err := e.svc.Feedback(ctx, access.FeedbackInput{TenantID: tenant, RequestID: expired.ID, Who: riley,
			Useful: string(access.UsefulYes), FastEnough: access.AnswerYes}); err != nil {
			t.Fatalf("feedback: %v", err)
		}
		e.clock.Advance(time.Minute)
		denied := e.submit(sam, time.Hour)
		e.clock.Advance(10 * time.Minute)
		if _, err := e.decide(denied.ID, alex, access.Deny, "no ticket"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
		pending := e.submit(riley, 2*time.Hour)

		all := collect(t, e.store, access.RequestQuery{})
		if len(all) != 3 || all[0].RequestID != expired.ID || all[1].RequestID != denied.ID || all[2].RequestID != pending.ID {
			t.Fatalf("all requests, oldest first: %+v", all)
		}
		ex := all[0]
		if ex.Outcome != access.OutcomeExpired || ex.Requester != riley || ex.Ticket != "INC-4711" ||
			len(ex.Approvals) != 1 || ex.Approvals[0].Approver != alex || ex.Approvals[0].Reason != "incident confirmed" ||
			ex.TimeToDecision != 3*time.Minute || ex.RequestedDuration != time.Hour || ex.ActualDuration != time.Hour ||
			!ex.RequestedAt.Equal(start) || !ex.GrantedAt.Equal(start.Add(3*time.Minute)) || !ex.EndedAt.Equal(start.Add(63*time.Minute)) {
			t.Errorf("expired grant's record: %+v", ex)
		}
		if f := ex.Feedback; f == nil || f.Useful != access.UsefulYes || !f.FastEnough || f.At.IsZero() {
			t.Errorf("expired grant's feedback: %+v", f)
		}
		dn := all[1]
		if dn.Outcome != access.OutcomeDenied || dn.DeniedBy != alex || dn.DenyReason != "no ticket" || len(dn.Approvals) != 0 ||
			dn.TimeToDecision != 10*time.Minute || !dn.GrantedAt.IsZero() || dn.ActualDuration != 0 {
			t.Errorf("denied request's record: %+v", dn)
		}
		if p := all[2]; p.Outcome != access.OutcomePending || !p.DecidedAt.IsZero() || p.TimeToDecision != 0 {
			t.Errorf("pending request's record: %+v", p)
		}

		ids := func(q access.RequestQuery) []string {
			var out []string
			for _, r := range collect(t, e.store, q) {
				out = append(out, r.RequestID)
			}
			return out
		}
		for _, c := range []struct {
			name string
			q    access.RequestQuery
			want []string
		}{
			{"requester", access.RequestQuery{UserID: sam.ObjectID}, []string{denied.ID}},
			{"approver", access.RequestQuery{UserID: alex.ObjectID}, []string{expired.ID, denied.ID}},
			{"nobody", access.RequestQuery{UserID: eve.ObjectID}, nil},
			{"profile", access.RequestQuery{Profile: "prod-db"}, []string{expired.ID, denied.ID, pending.ID}},
			{"other profile", access.RequestQuery{Profile: "other"}, nil},
			{"since inclusive", access.RequestQuery{Since: denied.CreatedAt}, []string{denied.ID, pending.ID}},
			{"until exclusive", access.RequestQuery{Until: denied.CreatedAt}, []string{expired.ID}},
		} {
			if got := ids(c.q); !equal(got, c.want) {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
			}
		}

		stop := errors.New("stop")
		n := 0
		err := e.store.EachRequest(ctx, access.RequestQuery{}, func(access.Request) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("EachRequest after fn's error: %v after %d calls, want stop after 1", err, n)
		}
	})
}

func collect(t *testing.T, st access.Store, q access.RequestQuery) []access.GrantRecord {
	t.Helper()
	var out []access.GrantRecord
	if err := st.EachRequest(context.Background(), q, func(r access.Request) error {
		out = append(out, access.NewGrantRecord(r))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGrantOutcomes: every state a request and its grant can be in has the
// outcome a security team expects, a removal that kept failing above all.
func TestGrantOutcomes(t *testing.T) {
	exp := start.Add(time.Hour)
	withGrant := func(rs access.RequestState, gs access.GrantState, revoked time.Time) access.Request {
		return access.Request{State: rs, CreatedAt: start, Grant: &access.Grant{State: gs, ExpiresAt: exp, GrantedAt: start, RevokedAt: revoked}}
	}
	closed := access.Request{State: access.RequestDenied, Decisions: []access.Decision{{Approver: access.System, Verdict: access.Deny, Reason: "No longer valid"}}}
	for _, c := range []struct {
		name string
		r    access.Request
		want access.Outcome
	}{
		{"pending", access.Request{State: access.RequestPending}, access.OutcomePending},
		{"denied", access.Request{State: access.RequestDenied, Decisions: []access.Decision{{Approver: alex, Verdict: access.Deny}}}, access.OutcomeDenied},
		{"closed as no longer valid", closed, access.OutcomeClosed},
		{"failed", withGrant(access.RequestFailed, access.GrantFailed, time.Time{}), access.OutcomeFailed},
		{"granting", withGrant(access.RequestApproved, access.GrantGranting, time.Time{}), access.OutcomeGranting},
		{"active", withGrant(access.RequestActive, access.GrantActive, time.Time{}), access.OutcomeActive},
		{"revoking", withGrant(access.RequestActive, access.GrantRevoking, time.Time{}), access.OutcomeRevoking},
		{"irrevocable", withGrant(access.RequestActive, access.GrantIrrevocable, time.Time{}), access.OutcomeIrrevocable},
		{"expired", withGrant(access.RequestExpired, access.GrantRevoked, exp.Add(time.Second)), access.OutcomeExpired},
		{"member left early", withGrant(access.RequestExpired, access.GrantRevoked, exp.Add(-time.Minute)), access.OutcomeEndedEarly},
		{"cancelled", access.Request{State: access.RequestCancelled}, access.OutcomeCancelled},
		{"timed out", access.Request{State: access.RequestTimedOut}, access.OutcomeTimedOut},
		{"scheduled", access.Request{State: access.RequestScheduled, StartsAt: exp, Decisions: []access.Decision{{Approver: alex, Verdict: access.Approve}}}, access.OutcomeScheduled},
		{"revoked before its start", access.Request{State: access.RequestDenied, StartsAt: exp, ApprovedAhead: true, Decisions: []access.Decision{{Approver: alex, Verdict: access.Approve}, {Approver: sam, Verdict: access.Deny}}}, access.OutcomeRevokedBeforeStart},
		{"denied with 1 of 2 approvals ahead of its start", access.Request{State: access.RequestDenied, StartsAt: exp, Decisions: []access.Decision{{Approver: alex, Verdict: access.Approve}, {Approver: sam, Verdict: access.Deny}}}, access.OutcomeDenied},
		{"denied ahead of its start", access.Request{State: access.RequestDenied, StartsAt: exp, Decisions: []access.Decision{{Approver: alex, Verdict: access.Deny}}}, access.OutcomeDenied},
		{"closed at its start", access.Request{State: access.RequestDenied, StartsAt: exp, Decisions: []access.Decision{{Approver: alex, Verdict: access.Approve}, {Approver: access.System, Verdict: access.Deny}}}, access.OutcomeClosed},
		{"start missed", access.Request{State: access.RequestTimedOut, StartsAt: exp, ApprovedAhead: true, Decisions: []access.Decision{{Approver: alex, Verdict: access.Approve}}}, access.OutcomeStartMissed},
		{"timed out with 1 of 2 approvals ahead of its start", access.Request{State: access.RequestTimedOut, StartsAt: exp, Decisions: []access.Decision{{Approver: alex, Verdict: access.Approve}}}, access.OutcomeTimedOut},
		{"timed out ahead of its start", access.Request{State: access.RequestTimedOut, StartsAt: exp}, access.OutcomeTimedOut},
	} {
		if got := access.NewGrantRecord(c.r).Outcome; got != c.want {
			t.Errorf("%s: outcome %s, want %s", c.name, got, c.want)
		}
	}
}
