package accesstest

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/jitbot/jitbot/access"
)

// Seed describes an active grant to store: a request of User for Profile
// (GroupID), approved by Approver at Approved, whose membership was added
// (by the replica Owner) and which ends at Expires. Chat is the
// requester's personal chat, where the bot writes when the grant ends.
type Seed struct {
	Profile, GroupID string
	User, Approver   access.Person
	Chat             access.ConversationRef
	Approved         time.Time
	Expires          time.Time
	Owner            string
}

// ActiveGrant stores s through the lifecycle functions a live bot uses
// (CreateRequest, RecordDecision, RecordCheck, CompleteGrant, each with its
// audit event), as if the request had been made, approved and granted;
// nothing is added in any directory. It returns the active grant.
func ActiveGrant(ctx context.Context, st access.Store, s Seed) (*access.Grant, error) {
	req := &access.Request{
		Profile: s.Profile, GroupID: s.GroupID, Requester: s.User, Duration: s.Expires.Sub(s.Approved),
		Justification: "seeded", CreatedAt: s.Approved.Add(-time.Minute), RequesterChat: s.Chat,
	}
	ev := access.AuditEvent{At: req.CreatedAt, Actor: s.User, Action: access.ActionRequested, Profile: s.Profile,
		GroupID: s.GroupID, TargetUserID: s.User.ObjectID}
	if _, err := st.CreateRequest(ctx, req, ev); err != nil {
		return nil, fmt.Errorf("seed request of %s: %w", s.User.ObjectID, err)
	}
	d := access.Decision{Approver: s.Approver, Verdict: access.Approve, DecidedAt: s.Approved}
	g := &access.Grant{ID: uuid.NewString(), ExpiresAt: s.Expires}
	dev := access.AuditEvent{Actor: s.Approver, Action: access.ActionApproved, Profile: s.Profile, GroupID: s.GroupID, TargetUserID: s.User.ObjectID}
	approved, err := access.RecordDecision(ctx, st, req.ID, d, g, s.Owner, s.Approved.Add(time.Minute), dev)
	if err != nil {
		return nil, fmt.Errorf("seed approval of %s: %w", s.User.ObjectID, err)
	}
	if approved.Grant.State == access.GrantGranting {
		if err := st.RecordCheck(ctx, g.ID, s.Owner, false); err != nil {
			return nil, fmt.Errorf("seed membership check of %s: %w", s.User.ObjectID, err)
		}
		gev := access.AuditEvent{Actor: access.System, Action: access.ActionGranted, TargetUserID: s.User.ObjectID}
		if err := access.CompleteGrant(ctx, st, g.ID, s.Owner, s.Approved.Add(time.Second), gev); err != nil {
			return nil, fmt.Errorf("seed grant of %s: %w", s.User.ObjectID, err)
		}
	}
	out, err := st.GetGrant(ctx, g.ID)
	if err != nil {
		return nil, fmt.Errorf("seed grant of %s: %w", s.User.ObjectID, err)
	}
	return out, nil
}
