package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// RunDrift compares the managed groups with the ledger every DriftInterval
// until ctx is cancelled. With no interval it returns at once.
func (s *Service) RunDrift(ctx context.Context) error {
	if s.cfg.DriftInterval <= 0 {
		return nil
	}
	for {
		if err := s.CheckDrift(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("drift check", "err", err)
		}
		t := s.cfg.Clock.TimerAt(s.cfg.Clock.Now().Add(s.cfg.DriftInterval))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// driftStore is what drift detection uses of the store: the grants and
// the ledger it compares with the directory, the findings it records, and
// the audit log.
type driftStore interface {
	GrantStore
	AuditLog
}

// managedGroups returns each profile's group once, in configuration order.
func (s *Service) managedGroups() []Profile {
	var out []Profile
	seen := map[string]bool{}
	for _, p := range s.Profiles() {
		if !seen[p.GroupID] {
			seen[p.GroupID] = true
			out = append(out, p)
		}
	}
	return out
}

// CheckDrift lists the members of every managed group and compares them
// with the ledger. A member no live grant and no recorded pre-existing
// membership explains (added outside jitbot, or a removal that silently
// failed) is reported to the security channel once, and removed when
// DriftRemove is set. An active grant whose member is gone is closed.
func (s *Service) CheckDrift(ctx context.Context) error {
	var errs []error
	for _, p := range s.managedGroups() {
		if err := s.checkGroup(ctx, s.cfg.Store, p); err != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", p.GroupID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) checkGroup(ctx context.Context, st driftStore, p Profile) error {
	started := s.cfg.Clock.Now().UTC()
	// The live grants are read before the listing and after it: a grant
	// that ends while the group is listed (a mass expiry under way) is
	// live only before, one that begins meanwhile only after, and either
	// explains its member in the listing. A member whose grant ended but
	// who is still in the group is found by the next check. A few columns
	// of each live grant: a large group's whole grants would be held in
	// memory at once.
	before, err := st.LiveMembers(ctx, p.GroupID)
	if err != nil {
		return fmt.Errorf("list live grants: %w", err)
	}
	members, err := s.cfg.Directory.GroupMembers(ctx, p.GroupID)
	if err != nil {
		return fmt.Errorf("list members: %w", err)
	}
	live, err := st.LiveMembers(ctx, p.GroupID)
	if err != nil {
		return fmt.Errorf("list live grants: %w", err)
	}
	pre, err := st.PreExisting(ctx, p.GroupID)
	if err != nil {
		return fmt.Errorf("list pre-existing members: %w", err)
	}
	explained := map[string]bool{}
	for _, u := range pre {
		explained[u] = true
	}
	for _, gs := range [][]LiveMember{before, live} {
		for _, g := range gs {
			explained[g.UserID] = true
		}
	}
	present := map[string]bool{}
	for _, m := range members {
		present[m] = true
	}

	// Members nobody can explain.
	for _, m := range members {
		if explained[m] {
			continue
		}
		now := s.cfg.Clock.Now().UTC()
		base := &Request{Profile: p.Name, GroupID: p.GroupID, Requester: Person{ObjectID: m}}
		first, err := st.MarkDrift(ctx, p.GroupID, m, now, s.event(now, System, ActionDriftFound, base, "member not explained by any grant"))
		if err != nil {
			return fmt.Errorf("record drift of %s: %w", m, err)
		}
		alert := Alert{Kind: AlertDrift, Profile: p.Name, GroupID: p.GroupID, User: Person{ObjectID: m}, At: now}
		if s.cfg.DriftRemove {
			rctx, cancel := context.WithTimeout(ctx, s.cfg.GrantTimeout)
			// A repair waits behind the removals of due grants.
			err := s.paceWrite(rctx, PriorityAdd)
			if err == nil {
				err = s.removeUnexplained(rctx, p.GroupID, m)
			}
			cancel()
			if err != nil {
				s.log.Error("remove unexplained member", "group", p.GroupID, "user", m, "err", err)
				alert.Error = err.Error()
			} else {
				if err := st.AppendAudit(ctx, s.event(now, System, ActionDriftRemoved, base, "unexplained member removed (drift.remove_unexplained)")); err != nil {
					return fmt.Errorf("audit drift removal of %s: %w", m, err)
				}
				alert.Resolved, alert.ResolvedNote = true, "removed by drift detection"
				first = true // a removal is always worth telling
				delete(present, m)
			}
		}
		if first {
			s.log.Warn("unexplained member in managed group", "group", p.GroupID, "user", m, "removed", alert.Resolved)
			if s.cfg.SecurityChannelID != "" {
				if _, _, err := s.cfg.Notifier.PostAlert(ctx, alert, s.cfg.SecurityChannelID); err != nil {
					s.log.Error("post drift alert", "group", p.GroupID, "user", m, "err", err)
				}
			}
		}
	}
	if s.usesPIM(p.GroupID) {
		if err := s.checkPIMDrift(ctx, st, p, live); err != nil {
			return err
		}
	}
	stillThere := make([]string, 0, len(present))
	for m := range present {
		stillThere = append(stillThere, m)
	}
	slices.Sort(stillThere)
	if err := st.ClearDrift(ctx, p.GroupID, stillThere); err != nil {
		return fmt.Errorf("clear resolved drift: %w", err)
	}

	// Grants whose member is gone: removed outside jitbot.
	for _, m := range live {
		if !maybeGone(m.State, m.PreExisting, m.GrantedAt, started) || present[m.UserID] {
			continue
		}
		g, err := st.GetGrant(ctx, m.GrantID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("load grant %s: %w", m.GrantID, err)
		}
		if !maybeGone(g.State, g.PreExisting, g.GrantedAt, started) {
			continue // it changed since the listing
		}
		// A listing is no snapshot: members removed while it is paged
		// through (a mass expiry under way) shift the pages, and others
		// may be missed. Ask for the member itself before closing the
		// grant without a removal.
		cctx, cancel := context.WithTimeout(ctx, s.cfg.GrantTimeout)
		member, err := s.cfg.Directory.IsMember(cctx, g.GroupID, g.User.ObjectID)
		cancel()
		if err != nil {
			s.log.Warn("confirm departed member", "grant", g.ID, "group", g.GroupID, "user", g.User.ObjectID, "err", err)
			continue
		}
		if member {
			continue
		}
		now := s.cfg.Clock.Now().UTC()
		err = CloseGone(ctx, st, g.ID, now, s.event(now, System, ActionClosedGone, g.request(), "member no longer in the group"))
		if errors.Is(err, ErrStaleGrant) {
			continue
		}
		if err != nil {
			return fmt.Errorf("close grant %s: %w", g.ID, err)
		}
		s.afterRevoke(ctx, g, nil, false, fmt.Sprintf("Your temporary access to %s has ended: you are no longer in its group (removed outside jitbot).", g.Profile), MembershipGone)
	}
	return nil
}

// maybeGone says whether a grant may be closed when its member is missing
// from the group's listing: an active grant, not of a pre-existing
// membership, granted before the check started.
func maybeGone(state GrantState, preExisting bool, grantedAt, started time.Time) bool {
	return state == GrantActive && !preExisting && grantedAt.Before(started)
}

// removeUnexplained removes a member no grant explains: in a pim group its
// PIM assignment first (none counts as removed), then a direct membership
// still there.
func (s *Service) removeUnexplained(ctx context.Context, groupID, userID string) error {
	if s.usesPIM(groupID) {
		if err := s.cfg.PIM.RemovePIM(ctx, groupID, userID); err != nil {
			return err
		}
		member, err := s.cfg.Directory.IsMember(ctx, groupID, userID)
		if err != nil || !member {
			return err
		}
	}
	return s.cfg.Directory.RemoveMember(ctx, groupID, userID)
}

// pimOutlives is how much later than its grant a PIM assignment may end
// before drift detection reports it (clock skew, the time of the call).
const pimOutlives = time.Minute

// checkPIMDrift reports, for a pim group, every PIM assignment of a
// member with a live grant that ends after the latest of their grants
// (or never: Entra may keep a time-bound assignment as permanent when the
// licence lapses). jitbot's scheduler removes it when the grant ends; the
// report is there so that the security team knows Entra's end is no
// longer a backstop. Assignments of members without a grant are reported
// as unexplained members above.
func (s *Service) checkPIMDrift(ctx context.Context, st driftStore, p Profile, live []LiveMember) error {
	assignments, err := s.cfg.PIM.PIMAssignments(ctx, p.GroupID)
	if err != nil {
		return fmt.Errorf("list PIM assignments: %w", err)
	}
	ends := map[string]time.Time{}
	for _, g := range live {
		k := strings.ToLower(g.UserID)
		if holdsMembership(&Grant{State: g.State}) && !g.PreExisting && g.ExpiresAt.After(ends[k]) {
			ends[k] = g.ExpiresAt
		}
	}
	for _, a := range assignments {
		end, ok := ends[strings.ToLower(a.UserID)]
		if !ok || (!a.End.IsZero() && !a.End.After(end.Add(pimOutlives))) {
			continue
		}
		ends := "never"
		if !a.End.IsZero() {
			ends = "at " + FormatTime(a.End)
		}
		why := fmt.Sprintf("PIM assignment ends %s, after its grant (%s)", ends, FormatTime(end))
		now := s.cfg.Clock.Now().UTC()
		base := &Request{Profile: p.Name, GroupID: p.GroupID, Requester: Person{ObjectID: a.UserID}}
		first, err := st.MarkDrift(ctx, p.GroupID, a.UserID, now, s.event(now, System, ActionDriftFound, base, why))
		if err != nil {
			return fmt.Errorf("record drift of %s: %w", a.UserID, err)
		}
		if !first {
			continue
		}
		s.log.Warn("PIM assignment outlives its grant", "group", p.GroupID, "user", a.UserID, "assignment_end", a.End, "grant_end", end)
		if s.cfg.SecurityChannelID != "" {
			alert := Alert{Kind: AlertPIMOutlives, Profile: p.Name, GroupID: p.GroupID, User: Person{ObjectID: a.UserID}, At: now,
				AssignmentEnd: a.End, GrantEnd: end}
			if _, _, err := s.cfg.Notifier.PostAlert(ctx, alert, s.cfg.SecurityChannelID); err != nil {
				s.log.Error("post drift alert", "group", p.GroupID, "user", a.UserID, "err", err)
			}
		}
	}
	return nil
}
