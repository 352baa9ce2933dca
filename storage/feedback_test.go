package storage

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// TestRecordFeedback: feedback is stored once with its audit event, loaded
// with the request wherever requests are read, and a second answer, even a
// concurrent one, changes nothing.
func TestRecordFeedback(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		at := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)
		req := mustCreate(t, db, newRequest(alice, "prod-db", at.Add(-3*time.Hour)))
		if req.Feedback != nil {
			t.Fatalf("a new request has feedback %+v", req.Feedback)
		}
		f := access.Feedback{Useful: access.UsefulPartly, FastEnough: true, Comment: "the approver was quick; the group lacked a role", At: at}
		ev := access.AuditEvent{At: at, Actor: alice, Action: access.ActionFeedback, Reason: "useful: partly"}

		const n = 6
		errs := race(n, func(i int) error {
			g := f
			if i > 0 {
				g.Useful, g.Comment = access.UsefulNo, "another answer"
			}
			return db.RecordFeedback(ctx, req.ID, g, ev)
		})
		stored := 0
		for _, err := range errs {
			switch {
			case err == nil:
				stored++
			case !errors.Is(err, access.ErrFeedbackRecorded):
				t.Fatalf("concurrent feedback: %v", err)
			}
		}
		if stored != 1 {
			t.Fatalf("%d answers stored, want exactly 1", stored)
		}
		if c := auditCount(t, db, req.ID, access.ActionFeedback); c != 1 {
			t.Fatalf("%d feedback events, want 1", c)
		}
		got := mustGet(t, db, req.ID)
		if got.Feedback == nil || got.Feedback.At != dbTime(at) {
			t.Fatalf("feedback read back %+v", got.Feedback)
		}
		first := *got.Feedback
		if err := db.RecordFeedback(ctx, req.ID, f, ev); !errors.Is(err, access.ErrFeedbackRecorded) {
			t.Fatalf("second feedback: %v, want ErrFeedbackRecorded", err)
		}
		if again := mustGet(t, db, req.ID); !reflect.DeepEqual(*again.Feedback, first) {
			t.Fatalf("second answer changed the feedback: %+v", again.Feedback)
		}
		open, err := db.OpenRequests(ctx, alice.ObjectID)
		if err != nil || len(open) != 1 || open[0].Feedback == nil || !reflect.DeepEqual(*open[0].Feedback, first) {
			t.Fatalf("open requests do not carry the feedback: %+v %v", open, err)
		}
		if err := db.RecordFeedback(ctx, "no-such-request", f, ev); !errors.Is(err, access.ErrNotFound) {
			t.Fatalf("feedback on an unknown request: %v, want ErrNotFound", err)
		}
		if err := db.RecordFeedback(ctx, req.ID, access.Feedback{Useful: access.UsefulYes}, ev); err == nil {
			t.Fatal("feedback without a time was accepted")
		}
	})
}
