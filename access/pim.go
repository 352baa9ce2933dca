package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// MembershipMode is how a profile's group membership is made in the
// directory.
type MembershipMode string

// The membership modes.
const (
	// MembershipDirect adds the user as a direct member of the group and
	// removes them at the grant's end (the default).
	MembershipDirect MembershipMode = "direct"
	// MembershipPIM makes a time-bound active member assignment through
	// Privileged Identity Management for Groups, ending at the grant's
	// end: Entra itself removes the member then, even if jitbot is gone.
	// jitbot's scheduler still removes the assignment at the end itself.
	MembershipPIM MembershipMode = "pim"
)

// MembershipModes are the values a profile's membership may take.
var MembershipModes = []MembershipMode{MembershipDirect, MembershipPIM}

// PIMMinDuration is the shortest assignment Entra's PIM accepts; a request
// for a pim profile below it is refused.
const PIMMinDuration = 5 * time.Minute

// PIMPolicyCacheTTL is how long a group's PIM policy, read when a request
// is checked, is reused before it is read again.
const PIMPolicyCacheTTL = 5 * time.Minute

// PIMPermission is the Graph application permission PIM assignments need.
const PIMPermission = "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup"

// PIMPolicyPermission is the Graph application permission that reading a
// group's PIM policy needs.
const PIMPolicyPermission = "RoleManagementPolicy.Read.AzureADGroup"

// PIMAssignment is a time-bound active member assignment of a user to a
// group.
type PIMAssignment struct {
	GroupID string
	UserID  string
	// Start and End bound the assignment; End is the grant's end, or
	// PIMMinDuration after Start where that is later (see addMembership).
	Start, End    time.Time
	Justification string
	Ticket        string
	// ScheduleID is the assignment schedule Entra created (read back).
	ScheduleID string
}

// PIMPolicy is what jitbot needs of a group's PIM policy for member
// assignments.
type PIMPolicy struct {
	// Onboarded is false when the group is not managed by PIM yet: its
	// first assignment onboards it, which cannot be undone.
	Onboarded bool
	// MaxDuration is the longest active assignment the policy allows (0:
	// no limit, permanent assignments allowed).
	MaxDuration time.Duration
	// RequireMFA is set when an active assignment needs multifactor
	// authentication of the one assigning, which an application cannot
	// give.
	RequireMFA bool
}

// PIM is the directory's Privileged Identity Management for Groups, used
// by profiles with MembershipPIM.
type PIM interface {
	// AssignPIM makes the active member assignment (adminAssign). An
	// assignment of the user that exists already counts as made.
	AssignPIM(ctx context.Context, a PIMAssignment) error
	// ExtendPIM moves the end of the user's active member assignment to
	// end.
	ExtendPIM(ctx context.Context, a PIMAssignment) error
	// RemovePIM ends the user's active member assignment (adminRemove);
	// none (ended already) counts as removed.
	RemovePIM(ctx context.Context, groupID, userID string) error
	// PIMActive reports whether the user has an active member assignment
	// of the group.
	PIMActive(ctx context.Context, groupID, userID string) (bool, error)
	// PIMAssignments lists the group's active member assignments.
	PIMAssignments(ctx context.Context, groupID string) ([]PIMAssignment, error)
	// PIMPolicy reads the group's PIM policy for member assignments.
	PIMPolicy(ctx context.Context, groupID string) (PIMPolicy, error)
}

// ErrPIMPolicy marks a PIM assignment its group's policy refused.
var ErrPIMPolicy = errors.New("refused by the group's PIM policy")

// pimGroups returns the groups of profiles with MembershipPIM, keyed in
// lower case, or an error when a group is used by profiles of both modes.
func pimGroups(profiles []Profile) (map[string]bool, error) {
	mode := map[string]MembershipMode{}
	owner := map[string]string{}
	for _, p := range profiles {
		k := strings.ToLower(p.GroupID)
		m := p.MembershipMode()
		if prev, ok := mode[k]; ok && prev != m {
			return nil, fmt.Errorf("group %s is used by profile %s with membership %s and by profile %s with membership %s: a group has one membership mode",
				p.GroupID, owner[k], prev, p.Name, m)
		}
		mode[k], owner[k] = m, p.Name
	}
	out := map[string]bool{}
	for k, m := range mode {
		if m == MembershipPIM {
			out[k] = true
		}
	}
	return out, nil
}

// MembershipMode is the profile's membership mode (MembershipDirect when
// unset).
func (p Profile) MembershipMode() MembershipMode {
	if p.Membership == "" {
		return MembershipDirect
	}
	return p.Membership
}

// usesPIM reports whether memberships of the group are PIM assignments.
func (s *Service) usesPIM(groupID string) bool { return s.pimGroups[strings.ToLower(groupID)] }

// isMember reports whether g's user already is a member of its group:
// directly, or for a pim group through an active PIM assignment as well.
func (s *Service) isMember(ctx context.Context, g *Grant) (bool, error) {
	member, err := s.cfg.Directory.IsMember(ctx, g.GroupID, g.User.ObjectID)
	if err != nil || member || !s.usesPIM(g.GroupID) {
		return member, err
	}
	return s.cfg.PIM.PIMActive(ctx, g.GroupID, g.User.ObjectID)
}

// addMembership gives g's user the membership of its group: a PIM
// assignment ending at the grant's end for a pim group, else a direct
// membership. Never both.
func (s *Service) addMembership(ctx context.Context, g *Grant) error {
	if !s.usesPIM(g.GroupID) {
		_, err := s.cfg.Directory.AddMember(ctx, g.GroupID, g.User.ObjectID)
		return err
	}
	req, err := s.cfg.Store.GetRequest(ctx, g.RequestID)
	if err != nil {
		return fmt.Errorf("load request %s: %w", g.RequestID, err)
	}
	now := s.cfg.Clock.Now().UTC()
	if !g.ExpiresAt.After(now) {
		return fmt.Errorf("PIM assignment for %s: the grant ended at %s already: %w", g.User.ObjectID, g.ExpiresAt.Format(time.RFC3339), ErrPermanent)
	}
	// The assignment ends with the grant, but never sooner than Entra's
	// shortest assignment after it starts: a grant of that shortest
	// length has lost the time since its approval by now, and Entra would
	// refuse it. jitbot still removes the assignment at the grant's end.
	end := g.ExpiresAt
	if shortest := now.Add(PIMMinDuration); end.Before(shortest) {
		end = shortest
	}
	a := PIMAssignment{
		GroupID: g.GroupID, UserID: g.User.ObjectID, Start: now, End: end,
		Justification: pimJustification(req), Ticket: req.Ticket,
	}
	return s.cfg.PIM.AssignPIM(ctx, a)
}

// pimJustification is the justification recorded on a PIM assignment:
// jitbot's request id, the requester's words.
func pimJustification(req *Request) string {
	j := fmt.Sprintf("jitbot request %s: %s", req.ID, req.Justification)
	if r := []rune(j); len(r) > 500 {
		j = string(r[:500])
	}
	return j
}

// removeMembership takes g's user out of its group: for a pim group the
// assignment is removed (none counts as removed), then a direct membership
// still there is removed too (one made before the profile moved to pim).
// checkFirst asks whether the user is a member (directly, or through a PIM
// assignment) before removing: an earlier attempt may have removed it
// already. pace is called before the first write (the write budget).
func (s *Service) removeMembership(ctx context.Context, g *Grant, checkFirst bool, pace func() error) error {
	if checkFirst {
		member, err := s.isMember(ctx, g)
		if err != nil || !member {
			return err
		}
	}
	if err := pace(); err != nil {
		return err
	}
	if !s.usesPIM(g.GroupID) {
		return s.cfg.Directory.RemoveMember(ctx, g.GroupID, g.User.ObjectID)
	}
	if err := s.cfg.PIM.RemovePIM(ctx, g.GroupID, g.User.ObjectID); err != nil {
		return err
	}
	member, err := s.cfg.Directory.IsMember(ctx, g.GroupID, g.User.ObjectID)
	if err != nil || !member {
		return err
	}
	s.log.Warn("member still in a pim group after its assignment was removed; removing the direct membership",
		"grant", g.ID, "group", g.GroupID, "user", g.User.ObjectID)
	return s.cfg.Directory.RemoveMember(ctx, g.GroupID, g.User.ObjectID)
}

// extendPIM makes the PIM assignment of g's membership last until g's
// end, for a pim group, unless another live grant holding it ends at or
// after g (the assignment lasts until the latest of them already): a grant
// that shares a membership, or is extended, must not lose it at Entra's
// earlier end. A membership that pre-existed is not jitbot's and is left
// alone. A failure is logged: Entra then ends the membership before
// jitbot's grant ends (access ends early, never late).
func (s *Service) extendPIM(ctx context.Context, g *Grant) {
	if g == nil || !s.usesPIM(g.GroupID) {
		return
	}
	fail := func(err error) {
		s.log.Error("extend PIM assignment: Entra will end the membership before the grant", "grant", g.ID, "group", g.GroupID,
			"user", g.User.ObjectID, "until", g.ExpiresAt, "err", err)
	}
	pre, err := s.cfg.Store.PreExisting(ctx, g.GroupID)
	if err != nil {
		fail(err)
		return
	}
	for _, u := range pre {
		if strings.EqualFold(u, g.User.ObjectID) {
			return
		}
	}
	live, err := s.cfg.Store.LiveGrants(ctx, g.GroupID)
	if err != nil {
		fail(err)
		return
	}
	// The assignment lasts until the latest end of the grants holding it:
	// when another one ends at or after g, it covers g already.
	for _, o := range live {
		if o.ID == g.ID || !strings.EqualFold(o.User.ObjectID, g.User.ObjectID) || !holdsMembership(&o) {
			continue
		}
		if o.PreExisting || !o.ExpiresAt.Before(g.ExpiresAt) {
			return
		}
	}
	a := PIMAssignment{GroupID: g.GroupID, UserID: g.User.ObjectID, Start: s.cfg.Clock.Now().UTC(), End: g.ExpiresAt}
	cctx, cancel := context.WithTimeout(ctx, s.callTimeout())
	defer cancel()
	if err := s.cfg.PIM.ExtendPIM(cctx, a); err != nil {
		fail(err)
	}
}

// pimPolicies caches the groups' PIM policies for PIMPolicyCacheTTL.
type pimPolicies struct {
	mu      sync.Mutex
	entries map[string]pimPolicyEntry
}

type pimPolicyEntry struct {
	policy PIMPolicy
	at     time.Time
}

// pimPolicy returns the group's PIM policy, read at most every
// PIMPolicyCacheTTL.
func (s *Service) pimPolicy(ctx context.Context, groupID string) (PIMPolicy, error) {
	now := s.cfg.Clock.Now()
	k := strings.ToLower(groupID)
	s.policies.mu.Lock()
	e, ok := s.policies.entries[k]
	s.policies.mu.Unlock()
	if ok && now.Sub(e.at) < PIMPolicyCacheTTL && now.Sub(e.at) >= 0 {
		return e.policy, nil
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.GrantTimeout)
	defer cancel()
	p, err := s.cfg.PIM.PIMPolicy(cctx, groupID)
	if err != nil {
		return PIMPolicy{}, err
	}
	s.policies.mu.Lock()
	if s.policies.entries == nil {
		s.policies.entries = map[string]pimPolicyEntry{}
	}
	s.policies.entries[k] = pimPolicyEntry{policy: p, at: now}
	s.policies.mu.Unlock()
	return p, nil
}

// checkPIM refuses, before anything is stored, a request for a pim
// profile that Entra would refuse: shorter than PIMMinDuration, longer than
// the group's PIM maximum, or in a group whose policy requires MFA on
// assignment. A policy that cannot be read refuses the request too (fail
// closed), saying so.
func (s *Service) checkPIM(ctx context.Context, p Profile, d time.Duration) error {
	if !s.usesPIM(p.GroupID) {
		return nil
	}
	if d < PIMMinDuration {
		return refuse(ErrInvalidInput, "Profile %s is granted through Entra's Privileged Identity Management, whose shortest assignment is %s; you asked for %s. Ask again for at least %s.",
			p.Name, FormatDuration(PIMMinDuration), FormatDuration(d), FormatDuration(PIMMinDuration))
	}
	pol, err := s.pimPolicy(ctx, p.GroupID)
	if err != nil {
		s.log.Error("read PIM policy", "profile", p.Name, "group", p.GroupID, "err", err)
		return refuse(ErrInvalidInput, "Profile %s cannot be requested right now: the PIM policy of its group could not be read (%s). Try again later, or tell your administrator.",
			p.Name, Quote(err.Error()))
	}
	return pimPolicyRefusal(p, pol, d)
}

// checkPIMExtension refuses, before it is applied or sent to the
// approvers, an extension of g by added that would make its PIM
// assignment (from the grant's start) longer than the group's PIM policy
// allows, or a group whose policy now requires MFA.
func (s *Service) checkPIMExtension(ctx context.Context, p Profile, g *Grant, added time.Duration) error {
	if !s.usesPIM(p.GroupID) || g == nil || g.PreExisting {
		return nil
	}
	pol, err := s.pimPolicy(ctx, p.GroupID)
	if err != nil {
		s.log.Error("read PIM policy", "profile", p.Name, "group", p.GroupID, "err", err)
		return refuse(ErrInvalidInput, "This access cannot be extended right now: the PIM policy of its group could not be read (%s). Try again later, or tell your administrator.",
			Quote(err.Error()))
	}
	total := g.ExpiresAt.Add(added).Sub(g.ApprovedAt)
	if pol.MaxDuration > 0 && total > pol.MaxDuration {
		return refuse(ErrInvalidInput, "Access to %s can last at most %s in all: that is the longest active assignment the PIM policy of its group allows (\"Expire active assignment after\"); this extension would make it %s. Ask for new access once it ends if you still need it.",
			p.Name, FormatDuration(pol.MaxDuration), FormatDuration(total))
	}
	return pimPolicyRefusal(p, pol, total)
}

// pimPolicyRefusal is the refusal of a request for d under the group's
// policy, or nil.
func pimPolicyRefusal(p Profile, pol PIMPolicy, d time.Duration) error {
	switch {
	case pol.RequireMFA:
		return refuse(ErrInvalidInput, "Profile %s cannot be granted: the PIM policy of its group requires multifactor authentication on active assignment, which jitbot (an application) cannot give. An administrator must turn off \"Require Azure Multi-Factor Authentication on active assignment\" in the group's PIM settings (Privileged Identity Management, Groups, Settings, Member).",
			p.Name)
	case pol.MaxDuration > 0 && d > pol.MaxDuration:
		return refuse(ErrInvalidInput, "Profile %s can be granted for at most %s: that is the longest active assignment the PIM policy of its group allows (\"Expire active assignment after\"); you asked for %s. Ask again for at most %s.",
			p.Name, FormatDuration(pol.MaxDuration), FormatDuration(d), FormatDuration(pol.MaxDuration))
	}
	return nil
}
