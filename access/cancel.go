package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// CancelInput is a requester's Cancel: the button on their "request
// received" card, or the `cancel` command.
type CancelInput struct {
	TenantID string
	// RequestID names the request; empty means the caller's one pending
	// request.
	RequestID string
	Who       Person
	// ConversationID and ActivityID locate the click or message, for the
	// audit.
	ConversationID string
	ActivityID     string
}

// Cancel withdraws a pending request on its requester's behalf: it becomes
// cancelled (final, audited request.cancelled), its approval card says so
// without buttons, and the requester may ask again. It returns the request
// as it now stands. A *Refusal says why nothing was cancelled, and nothing
// changes then: a request of someone else (audited as
// request.cancel_refused, with Request unset so that the caller learns
// nothing of it), one no longer pending (with Request set), no pending
// request, or several when none was named (the reason lists them).
func (s *Service) Cancel(ctx context.Context, in CancelInput) (*Request, error) {
	if err := s.checkCaller(in.TenantID, in.Who); err != nil {
		return nil, err
	}
	in.RequestID = strings.TrimSpace(in.RequestID)
	if in.RequestID == "" {
		r, err := s.onlyPending(ctx, in.Who)
		if err != nil {
			return nil, err
		}
		in.RequestID = r.ID
	}
	req, err := s.cfg.Store.GetRequest(ctx, in.RequestID)
	if errors.Is(err, ErrNotFound) {
		return nil, noSuchRequest(in.RequestID, hintCancel)
	}
	if err != nil {
		return nil, fmt.Errorf("load request %s: %w", in.RequestID, err)
	}
	if !strings.EqualFold(in.Who.ObjectID, req.Requester.ObjectID) {
		s.auditRefusal(ctx, in.Who, ActionCancelRefused, req, "cancel by someone other than the requester", in.ConversationID, in.ActivityID)
		return nil, noSuchRequest(in.RequestID, hintCancel)
	}
	if req.State == RequestScheduled {
		return s.cancelScheduled(ctx, req, in)
	}
	if req.State != RequestPending {
		return nil, notCancellable(req)
	}
	now := s.cfg.Clock.Now().UTC()
	if pastDeadline(req, now) {
		if _, err := s.timeOut(ctx, req); err != nil {
			return nil, err
		}
		return nil, s.reloadNotCancellable(ctx, req.ID)
	}
	ev := s.event(now, in.Who, ActionCancelled, req, "cancelled by the requester")
	ev.ConversationID, ev.ActivityID = in.ConversationID, in.ActivityID
	updated, err := s.cfg.Store.CloseRequest(ctx, req.ID, RequestCancelled, now, ev)
	if errors.Is(err, ErrNotPending) {
		return nil, s.reloadNotCancellable(ctx, req.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("cancel request %s: %w", req.ID, err)
	}
	s.log.Info("request cancelled by its requester", "request", req.ID, "profile", req.Profile)
	s.updateCard(ctx, updated)
	return updated, nil
}

// onlyOpen returns the user's one open request that keep selects, or a
// refusal: none (noneErr with none as its reason), or several, listed one
// line each (line) under severalHead, which takes their count.
func (s *Service) onlyOpen(ctx context.Context, who Person, keep func(*Request) bool, noneErr error, none, severalHead string, line func(*Request) string) (*Request, error) {
	open, err := s.cfg.Store.OpenRequests(ctx, who.ObjectID)
	if err != nil {
		return nil, fmt.Errorf("list requests of %s: %w", who.ObjectID, err)
	}
	var found []Request
	for i := range open {
		if keep(&open[i]) {
			found = append(found, open[i])
		}
	}
	switch len(found) {
	case 0:
		return nil, refuse(noneErr, "%s", none)
	case 1:
		return &found[0], nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, severalHead, len(found))
	for i := range found {
		b.WriteString("\n- ")
		b.WriteString(line(&found[i]))
	}
	return nil, refuse(ErrInvalidInput, "%s", b.String())
}

// onlyPending returns the user's one pending request, or a refusal: none,
// or several (listed, to be named).
func (s *Service) onlyPending(ctx context.Context, who Person) (*Request, error) {
	return s.onlyOpen(ctx, who, func(r *Request) bool { return r.State == RequestPending || r.State == RequestScheduled },
		ErrNotFound, "You have no pending request to cancel.",
		"You have %d pending requests; say which one to cancel with `cancel <request id>`:",
		func(r *Request) string {
			return fmt.Sprintf("`%s`: %s for %s, asked %s", r.ID, r.Profile, FormatDuration(r.Duration), FormatTime(r.CreatedAt))
		})
}

// cancelScheduled withdraws a request approved ahead of its start, on its
// requester's behalf: it becomes cancelled (audited request.cancelled) and
// nothing is ever added to the group. A start that came first (the
// scheduler stored the grant) leaves the grant to be ended with I'm done.
func (s *Service) cancelScheduled(ctx context.Context, req *Request, in CancelInput) (*Request, error) {
	now := s.cfg.Clock.Now().UTC()
	ev := s.event(now, in.Who, ActionCancelled, req, "cancelled by the requester before its start "+FormatTime(req.StartsAt))
	ev.ConversationID, ev.ActivityID = in.ConversationID, in.ActivityID
	updated, err := s.cfg.Store.CloseScheduled(ctx, req.ID, RequestCancelled, nil, now, ev)
	if errors.Is(err, ErrNotPending) {
		return nil, s.reloadNotCancellable(ctx, req.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("cancel scheduled request %s: %w", req.ID, err)
	}
	s.log.Info("scheduled request cancelled by its requester", "request", req.ID, "profile", req.Profile)
	s.updateCard(ctx, updated)
	return updated, nil
}

func (s *Service) reloadNotCancellable(ctx context.Context, id string) error {
	cur, err := s.cfg.Store.GetRequest(ctx, id)
	if err != nil {
		return fmt.Errorf("reload request %s: %w", id, err)
	}
	return notCancellable(cur)
}

// notCancellable is the refusal of a Cancel on a request that is no longer
// pending, saying where it stands.
func notCancellable(req *Request) *Refusal {
	r := refuse(ErrNotPending, "This request is no longer pending (%s), so there is nothing to cancel.", stateText(req.State))
	r.Request = req
	return r
}

// stateText says where a request stands, for people.
func stateText(st RequestState) string {
	switch st {
	case RequestApproved, RequestActive:
		return "it was approved"
	case RequestScheduled:
		return "it was approved and waits for its start"
	case RequestDenied:
		return "it was denied"
	case RequestFailed:
		return "it was approved but could not be granted"
	case RequestExpired:
		return "its access has ended"
	case RequestCancelled:
		return "it was cancelled"
	case RequestTimedOut:
		return "it got no decision in time and expired"
	case RequestExtended:
		return "the extension was approved"
	}
	return string(st)
}

// What to do instead, after noSuchRequest.
const (
	hintCancel = "Send `status` to see yours."
	hintAccess = "Send `status` to see your access."
)

// noSuchRequest answers a command or click that names a request id which
// is not the caller's: the same words whether no request has that id or
// someone else's has, so that the answer tells nobody whether a request
// exists, and no Request with it. (Someone else's is audited as refused by
// the caller.)
func noSuchRequest(id, hint string) *Refusal {
	return refuse(ErrNotFound, "There is no request %s. %s", Quote(strings.TrimSpace(id)), hint)
}
