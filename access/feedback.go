package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// FeedbackAsked reports whether req asks its requester for feedback under
// profile p (ok is false when the profile is no longer configured: then it
// asks none). This is the one rule for sending the feedback card and for
// accepting an answer:
//
//   - the grant ended by expiry: it is revoked, at or after its expiry. A
//     grant closed early because its member was removed outside jitbot
//     asks nothing, and neither does a request that was denied or whose
//     membership could not be added.
//   - the grant held the membership, alone or shared with another live grant
//     of the same membership (a shared grant gave the requester the access
//     for its whole time, so its requester can judge it like any other).
//   - the membership did not pre-exist the grant: a user who already was a
//     member got nothing from jitbot that the answer could be about.
//   - the profile does not turn feedback off (feedback: false).
//
// Whether an answer was already given is not part of it: the card is sent
// once, when the grant ends, and the first answer is kept.
func FeedbackAsked(p Profile, ok bool, req *Request) bool {
	if !ok || p.NoFeedback || req == nil || req.State != RequestExpired {
		return false
	}
	g := req.Grant
	if g == nil || g.State != GrantRevoked || g.PreExisting || g.RevokedAt.IsZero() {
		return false
	}
	return !g.RevokedAt.Before(g.ExpiresAt)
}

// askFeedback sends the requester the feedback card of a request whose
// grant just ended, when FeedbackAsked says so. A failure is logged: the
// card is not sent again (one card per grant, no reminder).
func (s *Service) askFeedback(ctx context.Context, req *Request) {
	p, ok := s.profiles[req.Profile]
	if !FeedbackAsked(p, ok, req) {
		return
	}
	s.notify(ctx, req, NoticeFeedback, fmt.Sprintf("Your access to %s has ended. Did it let you do what you needed, and was approval fast enough? Answer on the card.", req.Profile))
}

// FeedbackInput is a requester's answer on the feedback card.
type FeedbackInput struct {
	TenantID  string
	RequestID string
	// Who answered; only the requester may.
	Who Person
	// Useful is one of UsefulYes, UsefulPartly and UsefulNo; FastEnough
	// AnswerYes or AnswerNo; Comment is optional (MaxFeedbackComment).
	Useful     string
	FastEnough string
	Comment    string
	// ConversationID and ActivityID locate the card, for the audit.
	ConversationID string
	ActivityID     string
}

// Feedback records a requester's feedback on a request whose access ended
// (see FeedbackAsked), once, audited as request.feedback, and returns the
// request as stored with it. A *Refusal says why an answer was not taken,
// and nothing changes then: an answer by anyone but the requester
// (audited as request.feedback_refused), on a request that asks none, a
// second answer (ErrFeedbackRecorded: the first is kept), or an answer
// that is incomplete or too long.
func (s *Service) Feedback(ctx context.Context, in FeedbackInput) (*Request, error) {
	if err := s.checkCaller(in.TenantID, in.Who); err != nil {
		return nil, err
	}
	req, err := s.cfg.Store.GetRequest(ctx, in.RequestID)
	if errors.Is(err, ErrNotFound) {
		return nil, refuse(ErrNotFound, "This request does not exist (any more).")
	}
	if err != nil {
		return nil, fmt.Errorf("load request %s: %w", in.RequestID, err)
	}
	if !strings.EqualFold(in.Who.ObjectID, req.Requester.ObjectID) {
		s.auditRefusal(ctx, in.Who, ActionFeedbackRefused, req, "feedback by someone other than the requester", in.ConversationID, in.ActivityID)
		return nil, refuse(ErrNotRequester, "Only the person who asked for this access can give feedback on it.")
	}
	p, ok := s.profiles[req.Profile]
	if !FeedbackAsked(p, ok, req) {
		return nil, refuse(ErrNoFeedbackAsked, "This request does not ask for feedback: its access has not ended by expiry, or its profile asks none.")
	}
	if req.Feedback != nil {
		return nil, alreadyAnswered(req)
	}
	f, err := parseFeedback(in)
	if err != nil {
		return nil, err
	}
	f.At = s.cfg.Clock.Now().UTC()
	ev := s.event(f.At, in.Who, ActionFeedback, req, feedbackReason(f))
	ev.ConversationID, ev.ActivityID = in.ConversationID, in.ActivityID
	err = s.cfg.Store.RecordFeedback(ctx, req.ID, f, ev)
	if errors.Is(err, ErrFeedbackRecorded) {
		cur, gerr := s.cfg.Store.GetRequest(ctx, req.ID)
		if gerr != nil {
			return nil, fmt.Errorf("reload request %s: %w", req.ID, gerr)
		}
		return nil, alreadyAnswered(cur)
	}
	if err != nil {
		return nil, fmt.Errorf("record feedback on %s: %w", req.ID, err)
	}
	out, err := s.cfg.Store.GetRequest(ctx, req.ID)
	if err != nil {
		return nil, fmt.Errorf("reload request %s: %w", req.ID, err)
	}
	return out, nil
}

func alreadyAnswered(req *Request) *Refusal {
	r := refuse(ErrFeedbackRecorded, "You already gave feedback on this access, thank you; your first answer is kept.")
	r.Request = req
	return r
}

// parseFeedback checks the answers on the card.
func parseFeedback(in FeedbackInput) (Feedback, error) {
	var f Feedback
	switch u := FeedbackUseful(strings.ToLower(strings.TrimSpace(in.Useful))); u {
	case UsefulYes, UsefulPartly, UsefulNo:
		f.Useful = u
	default:
		return f, refuse(ErrInvalidInput, "Say whether this access let you do what you needed: yes, partly or no.")
	}
	switch strings.ToLower(strings.TrimSpace(in.FastEnough)) {
	case AnswerYes:
		f.FastEnough = true
	case AnswerNo:
	default:
		return f, refuse(ErrInvalidInput, "Say whether approval was fast enough: yes or no.")
	}
	f.Comment = strings.TrimSpace(in.Comment)
	if n := Length(f.Comment); n > MaxFeedbackComment {
		return f, refuse(ErrInvalidInput, "The comment is too long (%d characters); keep it to %d.", n, MaxFeedbackComment)
	}
	return f, nil
}

// feedbackReason is how feedback reads in the audit log.
func feedbackReason(f Feedback) string {
	fast := AnswerNo
	if f.FastEnough {
		fast = AnswerYes
	}
	s := "useful: " + string(f.Useful) + "; fast enough: " + fast
	if f.Comment != "" {
		s += "; comment: " + f.Comment
	}
	return s
}
