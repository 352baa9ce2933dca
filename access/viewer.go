package access

import (
	"context"
	"fmt"
	"strings"
)

// Who sees what on a request's card. Teams asks the bot for each viewer's
// own card (a Universal Actions refresh) and sends every click with the
// clicker's identity; the bot asks Viewer what that person may do now and
// the card shows those buttons only. The rules are the ones the actions
// themselves enforce (Decide, Cancel, Release, RevokeNow): a button shown
// here is never refused for who clicked it, and every click is checked
// again anyway.

// Can is a set of things a person may do on a request now.
type Can uint8

// What a viewer may do on a request's card.
const (
	// CanCancel: the requester withdraws their pending request.
	CanCancel Can = 1 << iota
	// CanRelease: the requester ends their active grant ("I'm done").
	CanRelease
	// CanApprove and CanDeny: an approver decides a pending request.
	CanApprove
	CanDeny
	// CanRevoke: an approver or a member of the security groups ends an
	// active grant ("Revoke now").
	CanRevoke
	// CanExtend: the requester asks for more time on their active grant
	// (see MayExtend).
	CanExtend
	// CanForceApprove: an admin approves a pending request past the
	// approvers' rules (see ForceApprove).
	CanForceApprove
)

// Has reports whether every one of c is in the set.
func (s Can) Has(c Can) bool { return s&c == c && c != 0 }

// Viewer is one person's relation to a request and what they may do on it
// now. The zero Viewer is a bystander who may do nothing: a read-only view.
type Viewer struct {
	// Requester: the person asked for this access.
	Requester bool
	// Approver: the person may decide the profile's requests (a transitive
	// member of its approver groups; the requester only where the profile
	// allows self-approval).
	Approver bool
	// Security: the person is in the security groups (may revoke grants).
	// Not asked about the requester, who revokes only by self-approval.
	Security bool
	// Admin: the person is in the admin groups (may force-approve). Not
	// asked about the requester.
	Admin bool
	// May is what they may do on the request as it stands.
	May Can
}

// ReadOnly reports whether the viewer may do nothing on the request.
func (v Viewer) ReadOnly() bool { return v.May == 0 }

// ChannelViewer is the view of the card posted in the approvers' channel,
// which everyone Teams does not ask the bot about sees: an approver's
// buttons, since the channel is the approvers'. Nothing on it is private,
// and every click on it is checked (Decide, RevokeNow).
func ChannelViewer(req *Request) Viewer {
	return permitted(req, Viewer{Approver: true})
}

// permitted fills in v.May from v's roles and the request's state alone.
func permitted(req *Request, v Viewer) Viewer {
	v.May = 0
	pending := req.State == RequestPending
	scheduled := req.State == RequestScheduled
	endable := Endable(req) == nil
	if v.Requester && (pending || scheduled) {
		v.May |= CanCancel
	}
	if v.Requester && endable {
		v.May |= CanRelease
	}
	if v.Approver && pending {
		v.May |= CanApprove | CanDeny
	}
	if (v.Approver || v.Security) && (endable || scheduled) {
		v.May |= CanRevoke
	}
	return v
}

// Viewer says what who may do on req now, with the rules of the actions
// themselves: the requester may cancel their pending or scheduled request, release
// their active grant and extend it (MayExtend), and decide or revoke only where the profile allows
// self-approval; a transitive member of the profile's approver groups may
// decide a pending request and revoke an active grant; a member of the
// security groups may revoke. A request past its decision deadline can no
// longer be decided or cancelled. One directory question covers the
// approver and security groups. A caller from another tenant is refused;
// a caller without an object id is a bystander (no directory question is
// asked about them). The directory's answer is used again for
// Config.ViewerGroupsFor: a card may show buttons for that long after the
// person left a group, and pressing one is refused.
func (s *Service) Viewer(ctx context.Context, tenantID string, req *Request, who Person) (Viewer, error) {
	if err := s.checkTenant(tenantID); err != nil {
		return Viewer{}, err
	}
	if !IsObjectID(who.ObjectID) {
		return Viewer{}, nil
	}
	p, known := s.profiles[req.Profile]
	var v Viewer
	v.Requester = strings.EqualFold(who.ObjectID, req.Requester.ObjectID)
	if v.Requester {
		// The requester never decides their own request, unless the
		// profile lets them (the demo's): then they may also revoke.
		v.Approver = known && p.AllowSelfApproval
	}
	var approverGroups []string
	if known && !v.Requester {
		approverGroups = deciderGroups(p, req)
	}
	security := s.cfg.SecurityGroups
	if v.Requester {
		security = nil // mayRevoke: the requester revokes only by self-approval
	}
	admins := s.cfg.AdminGroups
	if v.Requester {
		admins = nil // nobody force-approves their own request
	}
	if len(approverGroups)+len(security)+len(admins) > 0 {
		// What the card shows, not what an action is allowed: a recent
		// answer is used again (see viewerGroups).
		found, err := s.viewerMemberGroups(ctx, who.ObjectID, append(append(append([]string{}, approverGroups...), security...), admins...))
		if err != nil {
			return Viewer{}, fmt.Errorf("check what %s may do on %s: %w", who.ObjectID, req.ID, err)
		}
		v.Approver = v.Approver || containsFold(found, approverGroups)
		v.Security = containsFold(found, security)
		v.Admin = containsFold(found, admins)
	}
	v = permitted(req, v)
	if v.Admin && forceApprovable(req) {
		v.May |= CanForceApprove
	}
	if v.Requester && s.MayExtend(req) {
		v.May |= CanExtend
	}
	if HasApproved(req, who) {
		// Counted already towards the quorum: the same person never
		// counts twice (Deny stays: any one denial ends the request).
		v.May &^= CanApprove
	}
	if req.State == RequestPending && pastDeadline(req, s.cfg.Clock.Now().UTC()) {
		v.May &^= CanApprove | CanDeny | CanCancel | CanForceApprove
	}
	return v, nil
}

// containsFold reports whether found holds one of groups (ids compared
// case-insensitively).
func containsFold(found, groups []string) bool {
	for _, f := range found {
		for _, g := range groups {
			if strings.EqualFold(f, g) {
				return true
			}
		}
	}
	return false
}
