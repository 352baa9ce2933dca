package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ReconcileStore is what reconciling the directory with the database reads
// and writes: the live grants and recorded pre-existing memberships of a
// group, and the audit log.
type ReconcileStore interface {
	LiveGrants(ctx context.Context, groupID string) ([]Grant, error)
	PreExisting(ctx context.Context, groupID string) ([]string, error)
	AppendAudit(ctx context.Context, ev AuditEvent) error
}

// Unexplained is a member of a managed group, or a PIM assignment, that no
// live grant and no recorded pre-existing membership explains: after the
// database was lost or restored from an old backup, what jitbot added and
// no longer knows about.
type Unexplained struct {
	Profile string
	GroupID string
	UserID  string
	// PIM is set for a member through an active PIM assignment; End is
	// the assignment's end (zero: none, permanent). A direct member has no
	// end.
	PIM bool
	End time.Time
}

// FindUnexplained lists, for the group of every profile (each group once),
// the members and PIM assignments (pim groups; pim may be nil when no
// profile uses PIM) that no live grant in st and no recorded pre-existing
// membership explains.
func FindUnexplained(ctx context.Context, st ReconcileStore, dir Directory, pim PIM, profiles []Profile) ([]Unexplained, error) {
	var out []Unexplained
	var errs []error
	seen := map[string]bool{}
	for _, p := range profiles {
		k := strings.ToLower(p.GroupID)
		if seen[k] {
			continue
		}
		seen[k] = true
		found, err := unexplainedIn(ctx, st, dir, pim, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("group %s (%s): %w", p.GroupID, p.Name, err))
			continue
		}
		out = append(out, found...)
	}
	return out, errors.Join(errs...)
}

func unexplainedIn(ctx context.Context, st ReconcileStore, dir Directory, pim PIM, p Profile) ([]Unexplained, error) {
	members, err := dir.GroupMembers(ctx, p.GroupID)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	assignments := map[string]PIMAssignment{}
	var order []string
	if p.MembershipMode() == MembershipPIM {
		if pim == nil {
			return nil, errors.New("membership pim without a PIM directory")
		}
		list, err := pim.PIMAssignments(ctx, p.GroupID)
		if err != nil {
			return nil, fmt.Errorf("list PIM assignments: %w", err)
		}
		for _, a := range list {
			k := strings.ToLower(a.UserID)
			if _, dup := assignments[k]; !dup {
				order = append(order, a.UserID)
			}
			assignments[k] = a
		}
	}
	live, err := st.LiveGrants(ctx, p.GroupID)
	if err != nil {
		return nil, fmt.Errorf("list live grants: %w", err)
	}
	pre, err := st.PreExisting(ctx, p.GroupID)
	if err != nil {
		return nil, fmt.Errorf("list pre-existing members: %w", err)
	}
	explained := map[string]bool{}
	for _, u := range pre {
		explained[strings.ToLower(u)] = true
	}
	for _, g := range live {
		explained[strings.ToLower(g.User.ObjectID)] = true
	}
	var out []Unexplained
	listed := map[string]bool{}
	for _, m := range append(slices.Clone(members), order...) {
		k := strings.ToLower(m)
		if explained[k] || listed[k] {
			continue
		}
		listed[k] = true
		u := Unexplained{Profile: p.Name, GroupID: p.GroupID, UserID: m}
		if a, ok := assignments[k]; ok {
			u.PIM, u.End = true, a.End
		}
		out = append(out, u)
	}
	return out, nil
}

// ErrExplained: a member FindUnexplained listed is explained by a live
// grant or a recorded pre-existing membership by the time it would be
// removed (granted through jitbot meanwhile); it is left alone.
var ErrExplained = errors.New("explained by a grant now")

// RemoveUnexplained removes what u found: the PIM assignment (none counts
// as removed), then a direct membership still there; the removal is
// audited (ActionReconcileRemoved) with actor as who ran it. The grants
// are read again first: a member a live grant or a recorded pre-existing
// membership explains by now (jitbot granted it since the list was made)
// is left alone, with ErrExplained, and nothing is audited.
func RemoveUnexplained(ctx context.Context, st ReconcileStore, dir Directory, pim PIM, u Unexplained, actor Person, at time.Time) error {
	what := fmt.Sprintf("remove %s from group %s", u.UserID, u.GroupID)
	if explained, err := explainedNow(ctx, st, u); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	} else if explained {
		return fmt.Errorf("%s: %w", what, ErrExplained)
	}
	if u.PIM {
		if pim == nil {
			return fmt.Errorf("%s: no PIM directory", what)
		}
		if err := pim.RemovePIM(ctx, u.GroupID, u.UserID); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	member, err := dir.IsMember(ctx, u.GroupID, u.UserID)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if member {
		if err := dir.RemoveMember(ctx, u.GroupID, u.UserID); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	reason := "direct member no grant in the database explains"
	if u.PIM {
		reason = "PIM assignment no grant in the database explains"
		if !u.End.IsZero() {
			reason += ", ending " + FormatTime(u.End)
		}
	}
	ev := AuditEvent{
		At: at, Actor: actor, Action: ActionReconcileRemoved, Profile: u.Profile, GroupID: u.GroupID,
		TargetUserID: u.UserID, Reason: reason + " (jitbot reconcile --remove)",
	}
	if err := st.AppendAudit(ctx, ev); err != nil {
		return fmt.Errorf("%s: removed, but the audit event was not written: %w", what, err)
	}
	return nil
}

// explainedNow reports whether a live grant or a recorded pre-existing
// membership explains u's member in the store as it is now.
func explainedNow(ctx context.Context, st ReconcileStore, u Unexplained) (bool, error) {
	live, err := st.LiveGrants(ctx, u.GroupID)
	if err != nil {
		return false, fmt.Errorf("list live grants: %w", err)
	}
	for _, g := range live {
		if strings.EqualFold(g.User.ObjectID, u.UserID) {
			return true, nil
		}
	}
	pre, err := st.PreExisting(ctx, u.GroupID)
	if err != nil {
		return false, fmt.Errorf("list pre-existing members: %w", err)
	}
	return slices.ContainsFunc(pre, func(p string) bool { return strings.EqualFold(p, u.UserID) }), nil
}
