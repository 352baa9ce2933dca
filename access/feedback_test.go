package access_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

func countKind(ks []access.NoticeKind, k access.NoticeKind) int {
	n := 0
	for _, x := range ks {
		if x == k {
			n++
		}
	}
	return n
}

func (e *env) feedback(id string, who access.Person, useful, fast, comment string) (*access.Request, error) {
	return e.svc.Feedback(context.Background(), access.FeedbackInput{
		TenantID: tenant, RequestID: id, Who: who, Useful: useful, FastEnough: fast, Comment: comment,
	})
}

// expire approves req, lets it expire and revokes it.
func (e *env) expire(req *access.Request) {
	e.t.Helper()
	if _, err := e.decide(req.ID, alex, access.Approve, ""); err != nil {
		e.t.Fatal(err)
	}
	e.clock.Advance(req.Duration)
	if n, err := e.svc.Work(context.Background()); err != nil || n != 1 {
		e.t.Fatalf("revoke: %d %v", n, err)
	}
}

func TestFeedbackAskedOnceAtExpiryAndRecordedOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		ctx := context.Background()
		req := e.submit(riley, time.Hour)
		if _, err := e.decide(req.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.feedback(req.ID, riley, "yes", "yes", ""); !errors.Is(err, access.ErrNoFeedbackAsked) {
			t.Fatalf("feedback while access is active: %v, want ErrNoFeedbackAsked", err)
		}
		if n := countKind(e.notes.Notices(req.ID), access.NoticeFeedback); n != 0 {
			t.Fatalf("feedback asked before the grant ended (%d)", n)
		}
		e.clock.Advance(time.Hour)
		if n, err := e.svc.Work(ctx); err != nil || n != 1 {
			t.Fatalf("revoke: %d %v", n, err)
		}
		notices := e.notes.Notices(req.ID)
		if n := countKind(notices, access.NoticeFeedback); n != 1 || notices[len(notices)-1] != access.NoticeFeedback {
			t.Fatalf("notices after expiry %v: want one feedback card, after the ended notice", notices)
		}
		e.clock.Advance(time.Hour)
		if _, err := e.svc.Work(ctx); err != nil {
			t.Fatal(err)
		}
		if n := countKind(e.notes.Notices(req.ID), access.NoticeFeedback); n != 1 {
			t.Fatalf("feedback asked %d times, want once (no reminder)", n)
		}

		// Someone else's answer is refused and audited; nothing is stored.
		if _, err := e.feedback(req.ID, sam, "no", "no", "not mine"); !errors.Is(err, access.ErrNotRequester) {
			t.Fatalf("feedback by sam: %v, want ErrNotRequester", err)
		}
		if a := e.audit(req.ID); a[len(a)-1] != access.ActionFeedbackRefused {
			t.Fatalf("audit after sam's answer %v: want request.feedback_refused last", a)
		}
		// Incomplete or over-long answers change nothing.
		long := strings.Repeat("é", access.MaxFeedbackComment+1)
		for _, bad := range [][3]string{{"maybe", "yes", ""}, {"yes", "", ""}, {"yes", "yes", long}} {
			if _, err := e.feedback(req.ID, riley, bad[0], bad[1], bad[2]); !errors.Is(err, access.ErrInvalidInput) {
				t.Errorf("answer %q/%q/%d chars: %v, want ErrInvalidInput", bad[0], bad[1], len([]rune(bad[2])), err)
			}
		}
		if got, _ := e.store.GetRequest(ctx, req.ID); got.Feedback != nil {
			t.Fatalf("a refused answer was stored: %+v", got.Feedback)
		}

		comment := strings.Repeat("é", access.MaxFeedbackComment-9) + " too slow"
		e.clock.Advance(time.Minute)
		got, err := e.feedback(req.ID, riley, "partly", "no", "  "+comment+"\n")
		if err != nil {
			t.Fatal(err)
		}
		want := access.Feedback{Useful: access.UsefulPartly, FastEnough: false, Comment: comment, At: e.clock.Now().UTC()}
		if got.Feedback == nil || !reflect.DeepEqual(*got.Feedback, want) {
			t.Fatalf("feedback returned %+v, want %+v", got.Feedback, want)
		}
		stored, _ := e.store.GetRequest(ctx, req.ID)
		if stored.Feedback == nil || !reflect.DeepEqual(*stored.Feedback, want) {
			t.Fatalf("feedback stored %+v, want %+v", stored.Feedback, want)
		}
		evs := e.auditEvents(req.ID)
		last := evs[len(evs)-1]
		if last.Action != access.ActionFeedback || last.Actor.ObjectID != riley.ObjectID ||
			last.Reason != "useful: partly; fast enough: no; comment: "+comment {
			t.Fatalf("feedback audited as %+v", last)
		}

		// A second answer is refused politely and changes nothing.
		events := e.auditCount()
		_, err = e.feedback(req.ID, riley, "yes", "yes", "changed my mind")
		var r *access.Refusal
		if !errors.Is(err, access.ErrFeedbackRecorded) || !errors.As(err, &r) || !strings.Contains(r.Reason, "first answer is kept") {
			t.Fatalf("second answer: %v, want a refusal saying the first answer is kept", err)
		}
		again, _ := e.store.GetRequest(ctx, req.ID)
		if !reflect.DeepEqual(*again.Feedback, want) || e.auditCount() != events {
			t.Fatalf("a second answer changed the feedback (%+v) or the audit log", again.Feedback)
		}
		// The store itself refuses a second answer too.
		if err := e.store.RecordFeedback(ctx, req.ID, access.Feedback{Useful: access.UsefulNo, At: e.clock.Now()}, access.AuditEvent{Action: access.ActionFeedback}); !errors.Is(err, access.ErrFeedbackRecorded) {
			t.Fatalf("store: second feedback %v, want ErrFeedbackRecorded", err)
		}
		if err := e.store.RecordFeedback(ctx, "no-such-request", access.Feedback{Useful: access.UsefulNo, At: e.clock.Now()}, access.AuditEvent{Action: access.ActionFeedback}); !errors.Is(err, access.ErrNotFound) {
			t.Fatalf("store: feedback on an unknown request %v, want ErrNotFound", err)
		}
		if e.auditCount() != events {
			t.Fatal("a refused store write was audited")
		}
	})
}

func TestFeedbackNotAskedForPreExistingOrWhenTurnedOff(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		if err := e.dir.SetMember(context.Background(), prodGroup, riley.ObjectID); err != nil {
			t.Fatal(err)
		}
		pre := e.submit(riley, time.Hour)
		e.expire(pre)
		if n := countKind(e.notes.Notices(pre.ID), access.NoticeFeedback); n != 0 {
			t.Fatalf("feedback asked for a pre-existing membership: %v", e.notes.Notices(pre.ID))
		}
		if _, err := e.feedback(pre.ID, riley, "yes", "yes", ""); !errors.Is(err, access.ErrNoFeedbackAsked) {
			t.Fatalf("feedback on a pre-existing membership: %v, want ErrNoFeedbackAsked", err)
		}

		e.close()
		e.openWith(func(c *access.Config) { c.Profiles[0].NoFeedback = true })
		if err := e.dir.RemoveMember(context.Background(), prodGroup, riley.ObjectID); err != nil {
			t.Fatal(err)
		}
		off := e.submit(riley, time.Hour)
		e.expire(off)
		if notices := e.notes.Notices(off.ID); countKind(notices, access.NoticeFeedback) != 0 || !slices.Contains(notices, access.NoticeRevoked) {
			t.Fatalf("notices with feedback off: %v", notices)
		}
		if _, err := e.feedback(off.ID, riley, "yes", "yes", ""); !errors.Is(err, access.ErrNoFeedbackAsked) {
			t.Fatalf("feedback with feedback off: %v, want ErrNoFeedbackAsked", err)
		}
	})
}

func TestFeedbackAskedForSharedMembership(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storeKind) {
		e := newEnv(t, store)
		e.close()
		e.openWith(func(c *access.Config) {
			second := c.Profiles[0]
			second.Name = "prod-db-2"
			c.Profiles = append(c.Profiles, second)
		})
		first := e.submit(riley, 2*time.Hour)
		if _, err := e.decide(first.ID, alex, access.Approve, ""); err != nil {
			t.Fatal(err)
		}
		shared, err := e.svc.Submit(context.Background(), access.Submission{
			TenantID: tenant, Requester: riley, Profile: "prod-db-2", Duration: time.Hour, Ticket: "INC-4712", Justification: "second",
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.decide(shared.ID, alex, access.Approve, "")
		if err != nil || !got.Grant.Shared {
			t.Fatalf("second grant: %+v %v, want shared", got, err)
		}
		e.clock.Advance(time.Hour)
		if _, err := e.svc.Work(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !e.isMember(riley.ObjectID) {
			t.Fatal("the shared grant's expiry removed the membership the first grant holds")
		}
		if n := countKind(e.notes.Notices(shared.ID), access.NoticeFeedback); n != 1 {
			t.Fatalf("feedback for the shared grant asked %d times, want once: %v", n, e.notes.Notices(shared.ID))
		}
		if countKind(e.notes.Notices(first.ID), access.NoticeFeedback) != 0 {
			t.Fatal("feedback asked for a grant that is still active")
		}
	})
}

func TestFeedbackNotAskedWhenMemberRemovedOutsideJitbot(t *testing.T) {
	e := newEnv(t, onMemory)
	req := e.submit(riley, time.Hour)
	if _, err := e.decide(req.ID, alex, access.Approve, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.dir.RemoveMember(context.Background(), prodGroup, riley.ObjectID); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	if err := e.svc.CheckDrift(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := e.store.GetRequest(context.Background(), req.ID)
	if got.Grant.State != access.GrantRevoked {
		t.Fatalf("grant of a departed member is %s, want revoked", got.Grant.State)
	}
	if countKind(e.notes.Notices(req.ID), access.NoticeFeedback) != 0 {
		t.Fatal("feedback asked for a grant closed before its expiry")
	}
	if _, err := e.feedback(req.ID, riley, "yes", "yes", ""); !errors.Is(err, access.ErrNoFeedbackAsked) {
		t.Fatalf("feedback on a grant closed early: %v, want ErrNoFeedbackAsked", err)
	}
}
