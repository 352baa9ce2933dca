package access

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Escalation. A profile with EscalateAfter posts the card of a request still
// pending that long to its escalation channel as well: the escalation is
// recorded first (audited request.escalated; of several replicas one wins,
// and a restart never repeats it), then the second card is posted and its
// place stored, and from then on both cards are updated on every change and
// the members of the escalation groups may decide too.

// escalationBatch is how many due escalations one look at the store takes;
// escalationRounds bounds the looks of one WorkEscalations.
const (
	escalationBatch  = 20
	escalationRounds = 50
)

// timeout is the profile's decision deadline after a request.
func (p *Profile) timeout() time.Duration {
	if p.ApprovalTimeout > 0 {
		return p.ApprovalTimeout
	}
	return DefaultApprovalTimeout
}

// deciderGroups are the groups whose members may decide req under p: the
// approver groups, and once req was escalated the escalation groups too.
func deciderGroups(p Profile, req *Request) []string {
	if req.EscalatedAt.IsZero() || len(p.EscalationGroups) == 0 {
		return p.ApproverGroups
	}
	return append(append([]string{}, p.ApproverGroups...), p.EscalationGroups...)
}

// WorkEscalations escalates the pending requests whose EscalateAt has come
// (and whose deadline has not: those time out instead). It returns how many
// it escalated.
func (s *Service) WorkEscalations(ctx context.Context) (int, error) {
	done := 0
	for range escalationRounds {
		if ctx.Err() != nil {
			return done, nil
		}
		now := s.cfg.Clock.Now().UTC()
		due, err := s.cfg.Store.DueEscalations(ctx, now, escalationBatch)
		if err != nil {
			return done, fmt.Errorf("find due escalations: %w", err)
		}
		if len(due) == 0 {
			return done, nil
		}
		acted := 0
		for i := range due {
			ok, err := s.escalate(ctx, &due[i], now)
			if err != nil {
				return done, err
			}
			if ok {
				acted++
				done++
			}
		}
		if acted == 0 {
			return done, nil
		}
	}
	return done, nil
}

// escalate records the escalation of a pending request and posts its card
// to the escalation channel. It reports false when another replica did, or
// the request was closed.
func (s *Service) escalate(ctx context.Context, req *Request, now time.Time) (bool, error) {
	p, known := s.profiles[req.Profile]
	channel := p.EscalationChannelID
	why := fmt.Sprintf("no decision within %s", FormatDuration(req.EscalateAt.Sub(req.CreatedAt)))
	if !known || channel == "" || pastDeadline(req, now) {
		// Nowhere to escalate to any more, or about to time out: drop it
		// (recorded like an escalation so that it is not looked at again).
		why += "; not posted: the profile no longer escalates, or the deadline has come"
		channel = ""
	}
	ev := s.event(now, System, ActionEscalated, req, why)
	err := s.cfg.Store.RecordEscalation(ctx, req.ID, now, ev)
	if errors.Is(err, ErrNotPending) || errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record escalation of request %s: %w", req.ID, err)
	}
	if channel == "" {
		return true, nil
	}
	req.EscalatedAt, req.EscalateAt = now, time.Time{}
	s.log.Info("request escalated", "request", req.ID, "profile", req.Profile, "channel", channel)
	chat, id, err := s.cfg.Notifier.PostApprovalCard(ctx, req, channel)
	if err != nil {
		// Recorded: never repeated; the escalation groups may decide on
		// the first card meanwhile.
		s.log.Error("post escalation card", "request", req.ID, "err", err)
		return true, nil
	}
	if err := s.cfg.Store.SetEscalationCard(ctx, req.ID, chat, id); err != nil {
		s.log.Error("record escalation card", "request", req.ID, "err", err)
		return true, nil
	}
	req.EscalationChat, req.EscalationActivityID = chat, id
	// The first card now says the request was escalated.
	s.updateCard(ctx, req)
	return true, nil
}
