package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Every decision about a membership is made here, from the membership as
// stored with its ledger row locked (GrantStore.WithMembership): whether a
// new grant shares a membership or adds it, whether ending a grant keeps,
// skips or removes the membership, which grants get the membership back
// after a removal, and which shared grants must add it themselves when the
// grant they shared with failed. The decisions are plain functions of the
// snapshot; the operations below apply them through the transaction.

// Reasons recorded in the audit log when a membership is left in place or
// given back.
const (
	ReasonKept        = "membership kept: another active grant holds it"
	ReasonPreExisting = "membership pre-existed the grant; left in place"
	ReasonOrphaned    = "the grant whose membership it shared could not add it: adding it for this grant"
	ReasonReadded     = "membership removed by an overlapping grant's expiry"
)

// readdLease is how long the replica that removed a membership holds the
// grants it must add again.
const readdLease = 2 * time.Minute

// holdsMembership reports whether g holds its membership in a way that is
// meant to stay: granting, active or irrevocable. A revoking grant's
// membership is on its way out.
func holdsMembership(g *Grant) bool {
	switch g.State {
	case GrantGranting, GrantActive, GrantIrrevocable:
		return true
	}
	return false
}

// heldByOthers reports whether a grant of m other than id holds the
// membership.
func heldByOthers(m *Membership, id string) bool {
	for i := range m.Grants {
		if g := &m.Grants[i]; g.ID != id && holdsMembership(g) {
			return true
		}
	}
	return false
}

// approvalShares reports whether a grant approved now for m shares the
// membership (nothing is added for it, it is active at once): another grant
// already holds it.
func approvalShares(m *Membership) bool { return heldByOthers(m, "") }

// revokeStep is what ending a grant takes.
type revokeStep int

const (
	// revokeRemove: remove the member, then finish the revocation.
	revokeRemove revokeStep = iota
	// revokeKeep: another grant holds the membership; close this one.
	revokeKeep
	// revokeSkip: the membership pre-existed; close the grant, never remove.
	revokeSkip
)

// revokePlan decides what ending grant g of m takes, and the reason
// recorded when the membership is left in place. A revoking grant's
// removal was decided already (an earlier attempt was interrupted).
func revokePlan(m *Membership, g *Grant) (revokeStep, string) {
	switch {
	case g.State == GrantRevoking:
		return revokeRemove, ""
	case heldByOthers(m, g.ID):
		return revokeKeep, ReasonKept
	case m.PreExisting || g.PreExisting:
		return revokeSkip, ReasonPreExisting
	}
	return revokeRemove, ""
}

// readdAfterRemoval returns the grants of m, other than the removed one,
// whose membership the removal took away: every active or granting one
// (its membership may have been added before the removal, or while it was
// under way).
func readdAfterRemoval(m *Membership, removedID string) []Grant {
	var out []Grant
	for _, g := range m.Grants {
		if g.ID != removedID && (g.State == GrantActive || g.State == GrantGranting) {
			out = append(out, g)
		}
	}
	return out
}

// orphanedShared returns the shared grants of m that held nothing once
// grant failedID could not add the membership: when no other grant is
// granting, or active or irrevocable without being shared, the active
// shared grants must add the membership themselves. One that a replica
// holds a live claim on at at is being ended by it and is left alone.
func orphanedShared(m *Membership, failedID string, at time.Time) []Grant {
	for _, g := range m.Grants {
		if g.ID == failedID {
			continue
		}
		if g.State == GrantGranting || (g.State == GrantActive || g.State == GrantIrrevocable) && !g.Shared {
			return nil
		}
	}
	var out []Grant
	for _, g := range m.Grants {
		if g.ID != failedID && g.State == GrantActive && g.Shared && !g.ClaimUntil.After(at) {
			out = append(out, g)
		}
	}
	return out
}

// ledgerAfterGrant says what the ledger records once grant g's membership
// is in place: pre-existing for a PreExisting grant (the membership
// outlives every grant), not pre-existing for a grant that checked and found
// no membership (whatever pre-existed is gone); set is false when g never
// checked (a shared grant) and the ledger stays as it is.
func ledgerAfterGrant(g *Grant) (set, pre bool) {
	switch {
	case g.PreExisting:
		return true, true
	case g.Checked:
		return true, false
	}
	return false, false
}

// RecordDecision records d on pending request id in st. Deny takes no grant
// (see RequestStore.Deny). Approve needs grant (with ID and ExpiresAt),
// owner and claimUntil: with the membership locked the grant is stored
// claimed by owner until claimUntil, granting (request approved), or,
// when another grant already holds the membership (approvalShares), Shared
// and active at once with GrantedAt the decision time (request active).
// The grant's empty fields come from the request (Profile, GroupID, User)
// and the decision (ApprovedAt; DueAt from ExpiresAt); its lifecycle fields
// start afresh whatever the caller set. d.DecidedAt is required; ev.At
// defaults to it and ev.RequestID to id. It returns the request as stored,
// or ErrNotPending / ErrNotFound and no change.
func RecordDecision(ctx context.Context, st Store, id string, d Decision, grant *Grant, owner string, claimUntil time.Time, ev AuditEvent) (*Request, error) {
	out, _, err := RecordApproval(ctx, st, id, d, 1, grant, owner, claimUntil, ev)
	return out, err
}

// RecordApproval is RecordDecision with a quorum: an approval counts
// towards required distinct approvals (see countApproval). Until the
// required-th, it is stored on the request, which stays pending, and
// audited as ActionApprovalCounted (no grant); the required-th stores the
// grant as RecordDecision does, in the same transaction, under the lock of
// the membership every approval of the request takes, so that of two last
// approvals at once exactly one makes the grant and the other counts
// against the request as it then stands. An approver who approved already
// gets ErrAlreadyApproved and no change. counted is the approvals the
// request has once this one is stored. A request whose StartsAt is after
// the decision is approved ahead: it becomes scheduled, and no grant is
// stored until its start (StartScheduled).
func RecordApproval(ctx context.Context, st Store, id string, d Decision, required int, grant *Grant, owner string, claimUntil time.Time, ev AuditEvent) (*Request, int, error) {
	required, ev, err := decisionInput(id, d, required, ev)
	if err != nil {
		return nil, 0, err
	}
	switch d.Verdict {
	case Approve:
		if err := checkApproval(id, grant, owner, claimUntil); err != nil {
			return nil, 0, err
		}
	case Deny:
		if grant != nil {
			return nil, 0, fmt.Errorf("decide request %s: denial with a grant", id)
		}
		out, err := st.Deny(ctx, id, d, ev)
		return out, 0, err
	default:
		return nil, 0, fmt.Errorf("decide request %s: unknown verdict %q", id, d.Verdict)
	}

	req, err := st.GetRequest(ctx, id)
	if err != nil {
		return nil, 0, fmt.Errorf("decide request %s: %w", id, err)
	}
	return recordApproval(ctx, st, req, d, required, grant, owner, claimUntil, ev)
}

// RecordApprovalOf is RecordApproval of req, the request as the caller
// has just read it, which saves reading it again. Only its id, group and
// requester (which never change) and its state when read are used: whether
// it is still pending is decided with the membership locked, as in
// RecordApproval.
func RecordApprovalOf(ctx context.Context, st Store, req *Request, d Decision, required int, grant *Grant, owner string, claimUntil time.Time, ev AuditEvent) (*Request, int, error) {
	required, ev, err := decisionInput(req.ID, d, required, ev)
	if err != nil {
		return nil, 0, err
	}
	if d.Verdict != Approve {
		return RecordApproval(ctx, st, req.ID, d, required, grant, owner, claimUntil, ev)
	}
	if err := checkApproval(req.ID, grant, owner, claimUntil); err != nil {
		return nil, 0, err
	}
	return recordApproval(ctx, st, req, d, required, grant, owner, claimUntil, ev)
}

// decisionInput checks that decision d on request id has a time and fills
// in what its caller may leave out: required at least 1, and ev's time
// (the decision's) and request (id).
func decisionInput(id string, d Decision, required int, ev AuditEvent) (int, AuditEvent, error) {
	if d.DecidedAt.IsZero() {
		return 0, ev, fmt.Errorf("decide request %s: decision has no time", id)
	}
	if ev.At.IsZero() {
		ev.At = d.DecidedAt
	}
	if ev.RequestID == "" {
		ev.RequestID = id
	}
	return max(required, 1), ev, nil
}

// checkApproval refuses an approval of request id without what it stores.
func checkApproval(id string, grant *Grant, owner string, claimUntil time.Time) error {
	switch {
	case grant == nil:
		return fmt.Errorf("decide request %s: approval without a grant", id)
	case grant.ID == "":
		return fmt.Errorf("decide request %s: grant has no id", id)
	case grant.ExpiresAt.IsZero():
		return fmt.Errorf("decide request %s: grant has no expiry time", id)
	case owner == "":
		return fmt.Errorf("decide request %s: owner is empty", id)
	case claimUntil.IsZero():
		return fmt.Errorf("decide request %s: claim has no end", id)
	}
	return nil
}

// recordApproval stores an approval of req (read by the caller) with the
// membership locked; see RecordApproval.
func recordApproval(ctx context.Context, st Store, req *Request, d Decision, required int, grant *Grant, owner string, claimUntil time.Time, ev AuditEvent) (*Request, int, error) {
	id := req.ID
	if req.State != RequestPending {
		return nil, 0, fmt.Errorf("decide request %s: %w", id, ErrNotPending)
	}
	g := newGrant(grant, req, d.DecidedAt, owner, claimUntil)
	counted := 0
	// out is the request as the transaction stores it: once it commits,
	// the request as committed, read under the lock rather than after it.
	var out *Request
	err := st.WithMembership(ctx, g.GroupID, g.User.ObjectID, d.DecidedAt, func(m *Membership, tx MembershipTx) error {
		if err := decideApproval(m, tx, req, d, required, g, ev, &counted); err != nil {
			return err
		}
		stored, err := tx.Request(id)
		if err != nil {
			return err
		}
		out = stored
		return nil
	})
	if errors.Is(err, ErrAlreadyApproved) {
		// The approval of this approver that is stored may be the one
		// that settled the request meanwhile (a double click): then this
		// click lost the race to close it, like any other late click.
		if cur, gerr := st.GetRequest(ctx, id); gerr == nil && cur.State != RequestPending {
			return nil, 0, fmt.Errorf("decide request %s: %w", id, ErrNotPending)
		}
		return nil, counted, err
	}
	if err != nil {
		return nil, 0, fmt.Errorf("decide request %s: %w", id, err)
	}
	return out, counted, nil
}

// decideApproval stores approval d of req with its membership m locked:
// counted towards required, and, once the quorum is reached, the request
// approved with its grant g (or scheduled, or active on a shared
// membership). *counted is the approvals the request has with this one.
func decideApproval(m *Membership, tx MembershipTx, req *Request, d Decision, required int, g Grant, ev AuditEvent, counted *int) error {
	id := req.ID
	n, err := countApproval(tx, id, d)
	*counted = n
	if err != nil {
		return err
	}
	if n < required {
		if err := tx.Decide(id, d, RequestPending); err != nil {
			return err
		}
		ev.Action, ev.Reason = ActionApprovalCounted, quorumReason(n, required, ev.Reason)
		return tx.Append(ev)
	}
	if required > 1 {
		ev.Reason = quorumReason(n, required, ev.Reason)
	}
	if waitsForStart(req, d.DecidedAt) {
		// Approved ahead of its start: nothing is stored for the
		// membership until then (see StartScheduled).
		if err := tx.Decide(id, d, RequestScheduled); err != nil {
			return err
		}
		ev.Reason = strings.TrimSpace(ev.Reason + " (access from " + FormatTime(req.StartsAt) + ")")
		return tx.Append(ev)
	}
	state := RequestApproved
	if approvalShares(m) {
		// Nothing to add: the membership is held already, and no
		// work is in hand, so the grant holds no claim (were the
		// backing grant to fail, this one must be free to be put
		// back to granting).
		g.Shared, g.State, g.GrantedAt = true, GrantActive, d.DecidedAt
		g.ClaimedBy, g.ClaimUntil = "", time.Time{}
		state = RequestActive
	}
	if err := tx.Decide(id, d, state); err != nil {
		return err
	}
	if err := tx.InsertGrant(g); err != nil {
		return err
	}
	return tx.Append(ev)
}

// newGrant is the grant an approval of req stores before the membership is
// looked at: granting, claimed by owner until claimUntil.
func newGrant(in *Grant, req *Request, decidedAt time.Time, owner string, claimUntil time.Time) Grant {
	g := Grant{
		ID: in.ID, RequestID: req.ID, Profile: in.Profile, GroupID: in.GroupID, User: in.User,
		State: GrantGranting, ApprovedAt: in.ApprovedAt, ExpiresAt: in.ExpiresAt, DueAt: in.DueAt,
		ClaimedBy: owner, ClaimUntil: claimUntil, RemindAt: in.RemindAt,
		BreakGlass: in.BreakGlass, ReviewBy: in.ReviewBy, ReviewDueAt: in.ReviewDueAt,
	}
	if g.Profile == "" {
		g.Profile = req.Profile
	}
	if g.GroupID == "" {
		g.GroupID = req.GroupID
	}
	if g.User.ObjectID == "" {
		g.User = req.Requester
	}
	if g.ApprovedAt.IsZero() {
		g.ApprovedAt = decidedAt
	}
	if g.DueAt.IsZero() {
		g.DueAt = g.ExpiresAt
	}
	return g
}

// withGrant locks the membership of grant id and runs fn with the grant as
// stored in it; a grant no longer live gives ErrStaleGrant, an unknown one
// ErrNotFound.
func withGrant(ctx context.Context, st GrantStore, id string, at time.Time, fn func(m *Membership, g *Grant, tx MembershipTx) error) error {
	// The group and user of a grant never change: read them unlocked.
	g, err := st.GetGrant(ctx, id)
	if err != nil {
		return err
	}
	return st.WithMembership(ctx, g.GroupID, g.User.ObjectID, at, func(m *Membership, tx MembershipTx) error {
		cur := m.Grant(id)
		if cur == nil {
			return ErrStaleGrant
		}
		return fn(m, cur, tx)
	})
}

// grantEvent is ev for grant g: At defaults to at, RequestID to g's request.
func grantEvent(ev AuditEvent, g *Grant, at time.Time) AuditEvent {
	if ev.At.IsZero() {
		ev.At = at
	}
	if ev.RequestID == "" {
		ev.RequestID = g.RequestID
	}
	return ev
}

func checkTime(what string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("%s time is zero", what)
	}
	return nil
}

// CompleteGrant records that the membership of grant grantID is in place:
// the grant, if granting and claimed by owner, becomes active at grantedAt
// with its claim released, its request active (from approved), ev appended
// (At defaults to grantedAt), and the ledger records what the check found
// (ledgerAfterGrant). Otherwise ErrStaleGrant (ErrNotFound) and no change.
func CompleteGrant(ctx context.Context, st GrantStore, grantID, owner string, grantedAt time.Time, ev AuditEvent) error {
	err := errors.Join(checkOwner(owner), checkTime("grant", grantedAt))
	if err == nil {
		err = withGrant(ctx, st, grantID, grantedAt, func(_ *Membership, g *Grant, tx MembershipTx) error {
			_, err := completeGrant(tx, g, owner, grantedAt, ev)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("complete grant %s: %w", grantID, err)
	}
	return nil
}

// CompleteGrantOf is CompleteGrant of grant g as its caller holds it, and
// returns g's request as the transaction stores it (once it commits, as
// committed). Only g's id, group and user, which never change, are taken
// from the caller: the grant is not read before its membership is locked,
// and whether it is still granting and claimed by owner is decided under
// the lock, as in CompleteGrant. A g whose group or user is not the
// grant's finds no grant of that id in the membership: ErrStaleGrant.
func CompleteGrantOf(ctx context.Context, st GrantStore, g *Grant, owner string, grantedAt time.Time, ev AuditEvent) (*Request, error) {
	var out *Request
	err := errors.Join(checkOwner(owner), checkTime("grant", grantedAt))
	if err == nil {
		err = st.WithMembership(ctx, g.GroupID, g.User.ObjectID, grantedAt, func(m *Membership, tx MembershipTx) error {
			cur := m.Grant(g.ID)
			if cur == nil {
				return ErrStaleGrant
			}
			done, err := completeGrant(tx, cur, owner, grantedAt, ev)
			if err != nil {
				return err
			}
			out, err = tx.Request(done.RequestID)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("complete grant %s: %w", g.ID, err)
	}
	return out, nil
}

// completeGrant makes grant g (as stored, its membership locked) active
// at grantedAt (see CompleteGrant) and returns it as updated.
func completeGrant(tx MembershipTx, g *Grant, owner string, grantedAt time.Time, ev AuditEvent) (Grant, error) {
	done, err := tx.UpdateGrant(GrantUpdate{
		ID: g.ID, From: []GrantState{GrantGranting}, Owner: owner,
		State: GrantActive, GrantedAt: grantedAt, Release: true,
	})
	if err != nil {
		return Grant{}, err
	}
	if set, pre := ledgerAfterGrant(&done); set {
		if err := tx.SetPreExisting(pre, grantedAt); err != nil {
			return Grant{}, err
		}
	}
	if err := tx.MoveRequest(done.RequestID, []RequestState{RequestApproved}, RequestActive, grantedAt); err != nil {
		return Grant{}, err
	}
	return done, tx.Append(grantEvent(ev, g, grantedAt))
}

// FailGrant records that the membership of grant grantID could not be
// added: the grant, if granting and claimed by owner, becomes failed with
// reason as its last error and its claim released, its request failed, and
// ev is appended (ev.At is required). Shared grants that relied on it are
// put back to granting, unclaimed, each with a grant.readded event
// (orphanedShared), so that the next ClaimWork adds the membership for
// them. Otherwise ErrStaleGrant (ErrNotFound) and no change.
func FailGrant(ctx context.Context, st GrantStore, grantID, owner, reason string, ev AuditEvent) error {
	at := ev.At
	err := errors.Join(checkOwner(owner), checkTime("event", at))
	if err == nil {
		err = withGrant(ctx, st, grantID, at, func(m *Membership, g *Grant, tx MembershipTx) error {
			failed, err := tx.UpdateGrant(GrantUpdate{
				ID: grantID, From: []GrantState{GrantGranting}, Owner: owner,
				State: GrantFailed, LastError: reason, Release: true,
			})
			if err != nil {
				return err
			}
			if err := tx.MoveRequest(failed.RequestID, []RequestState{RequestApproved, RequestActive}, RequestFailed, at); err != nil {
				return err
			}
			if err := tx.Append(grantEvent(ev, g, at)); err != nil {
				return err
			}
			for _, o := range orphanedShared(m, grantID, at) {
				_, err := tx.UpdateGrant(GrantUpdate{
					ID: o.ID, From: []GrantState{GrantActive}, At: at,
					State: GrantGranting, ClearShared: true, Release: true,
				})
				if err != nil {
					return fmt.Errorf("move shared grant %s back to granting: %w", o.ID, err)
				}
				err = tx.Append(AuditEvent{
					At: at, Actor: ev.Actor, Action: ActionRegranted, RequestID: o.RequestID,
					Profile: o.Profile, GroupID: o.GroupID, TargetUserID: o.User.ObjectID, Reason: ReasonOrphaned,
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("fail grant %s: %w", grantID, err)
	}
	return nil
}

// PlanRevoke decides, with the membership locked, what ending grant
// grantID (active, revoking or irrevocable, claimed by owner) takes
// (revokePlan):
//
//   - another grant holds the membership, or it pre-existed: the grant is
//     closed (revoked at at, claim released, request expired) and ev is
//     appended with action grant.revoked or grant.revoke_skipped and the
//     reason; remove is false.
//   - otherwise an active grant becomes revoking (the intent), ev is
//     appended as given, and remove is true: the caller removes the member
//     and calls FinishRevoke (or RetryRevoke). The claim is kept. A
//     revoking grant stays revoking, an irrevocable one irrevocable (until
//     revoked).
//
// Anything else gives ErrStaleGrant (ErrNotFound) and no change. ev.At
// defaults to at.
func PlanRevoke(ctx context.Context, st GrantStore, grantID, owner string, at time.Time, ev AuditEvent) (bool, error) {
	var remove bool
	err := errors.Join(checkOwner(owner), checkTime("revocation", at))
	if err == nil {
		err = withGrant(ctx, st, grantID, at, func(m *Membership, g *Grant, tx MembershipTx) error {
			var err error
			remove, err = planRevoke(m, g, tx, owner, at, ev)
			return err
		})
	}
	if err != nil {
		return false, fmt.Errorf("plan revocation of grant %s: %w", grantID, err)
	}
	return remove, nil
}

// planRevoke is PlanRevoke's decision on grant g of the locked m.
func planRevoke(m *Membership, g *Grant, tx MembershipTx, owner string, at time.Time, ev AuditEvent) (bool, error) {
	if g.ClaimedBy != owner || !slices.Contains([]GrantState{GrantActive, GrantRevoking, GrantIrrevocable}, g.State) {
		return false, ErrStaleGrant
	}
	step, reason := revokePlan(m, g)
	switch step {
	case revokeKeep:
		ev.Action, ev.Reason = ActionRevoked, reason
		return false, closeGrant(tx, g, owner, at, ev)
	case revokeSkip:
		ev.Action, ev.Reason = ActionRevokeSkipped, reason
		return false, closeGrant(tx, g, owner, at, ev)
	}
	next := g.State
	if next == GrantActive {
		next = GrantRevoking
	}
	if _, err := tx.UpdateGrant(GrantUpdate{ID: g.ID, From: []GrantState{g.State}, Owner: owner, State: next}); err != nil {
		return false, err
	}
	return true, tx.Append(grantEvent(ev, g, at))
}

// RevokeStep is one grant's step in PlanRevokes or FinishRevokes: the
// claimed grant (its ID, GroupID and User; they never change), the time
// and the event, as PlanRevoke and FinishRevoke take them.
type RevokeStep struct {
	Grant *Grant
	At    time.Time
	Event AuditEvent
}

// RevokeOutcome is what PlanRevokes or FinishRevokes did with one step:
// Remove and Readd as PlanRevoke and FinishRevoke return them, or Err.
// Request is the grant's request as the transaction committed it when the
// step ended the grant (nil otherwise), for the notices.
type RevokeOutcome struct {
	Remove  bool
	Readd   []Grant
	Request *Request
	Err     error
}

// PlanRevokes is PlanRevoke for several claimed grants in one transaction
// (GrantStore.WithMemberships): each grant is decided on its own, with
// its membership locked, and a grant that cannot be planned (stale) leaves
// the others planned. The outcomes are in the order of steps; every grant
// whose Remove is true had its intent and audit event committed.
func PlanRevokes(ctx context.Context, st GrantStore, owner string, steps []RevokeStep) []RevokeOutcome {
	return revokeSteps(ctx, st, owner, steps, "plan revocation", func(m *Membership, g *Grant, tx MembershipTx, step RevokeStep) (RevokeOutcome, error) {
		remove, err := planRevoke(m, g, tx, owner, step.At, step.Event)
		return RevokeOutcome{Remove: remove}, err
	})
}

// FinishRevokes is FinishRevoke for several grants whose members were
// removed, in one transaction (GrantStore.WithMemberships), each decided
// on its own as PlanRevokes does.
func FinishRevokes(ctx context.Context, st GrantStore, owner string, steps []RevokeStep) []RevokeOutcome {
	return revokeSteps(ctx, st, owner, steps, "finish revocation", func(m *Membership, g *Grant, tx MembershipTx, step RevokeStep) (RevokeOutcome, error) {
		readd, err := finishRevoke(m, g, tx, owner, step.At, step.Event)
		return RevokeOutcome{Readd: readd}, err
	})
}

// revokeSteps runs decide for each of steps in one transaction.
func revokeSteps(ctx context.Context, st GrantStore, owner string, steps []RevokeStep, what string,
	decide func(m *Membership, g *Grant, tx MembershipTx, step RevokeStep) (RevokeOutcome, error)) []RevokeOutcome {
	out := make([]RevokeOutcome, len(steps))
	if len(steps) == 0 {
		return out
	}
	keys := make([]MembershipKey, len(steps))
	var at time.Time
	for i, step := range steps {
		keys[i] = MembershipKey{GroupID: step.Grant.GroupID, UserID: step.Grant.User.ObjectID}
		if step.At.After(at) {
			at = step.At
		}
	}
	err := checkOwner(owner)
	for _, step := range steps {
		err = errors.Join(err, checkTime("revocation", step.At))
	}
	var results []MembershipResult
	if err == nil {
		results, err = st.WithMemberships(ctx, keys, at, func(i int, m *Membership, tx MembershipTx) error {
			g := m.Grant(steps[i].Grant.ID)
			if g == nil {
				return ErrStaleGrant
			}
			o, err := decide(m, g, tx, steps[i])
			out[i] = o
			return err
		})
	}
	for i, step := range steps {
		e := err
		if e == nil && i >= len(results) {
			e = fmt.Errorf("the store returned %d results for %d memberships", len(results), len(steps))
		}
		if e == nil {
			e = results[i].Err
		}
		if e != nil {
			out[i] = RevokeOutcome{Err: fmt.Errorf("%s of grant %s: %w", what, step.Grant.ID, e)}
			continue
		}
		if out[i].Remove {
			continue // the grant goes on: its request is told nothing yet
		}
		for j := range results[i].Requests {
			if r := &results[i].Requests[j]; r.ID == step.Grant.RequestID {
				out[i].Request = r
			}
		}
	}
	return out
}

// closeGrant ends grant g, in its current state and claimed by owner (with
// no owner: not claimed by anyone at at): revoked at at, claim released,
// request expired, ev appended.
func closeGrant(tx MembershipTx, g *Grant, owner string, at time.Time, ev AuditEvent) error {
	return closeGrantFrom(tx, g, []GrantState{g.State}, owner, at, ev)
}

func closeGrantFrom(tx MembershipTx, g *Grant, from []GrantState, owner string, at time.Time, ev AuditEvent) error {
	_, err := tx.UpdateGrant(GrantUpdate{
		ID: g.ID, From: from, Owner: owner, At: at,
		State: GrantRevoked, RevokedAt: at, Release: true,
	})
	if err != nil {
		return err
	}
	if err := tx.MoveRequest(g.RequestID, []RequestState{RequestApproved, RequestActive}, RequestExpired, at); err != nil {
		return err
	}
	return tx.Append(grantEvent(ev, g, at))
}

// FinishRevoke records that the member of grant grantID was removed: the
// grant, if revoking or irrevocable and claimed by owner, becomes revoked at
// at, its claim released, its request expired, and ev is appended (At
// defaults to at). The membership no longer exists, so the ledger stops
// calling it pre-existing. The other grants whose membership the removal
// took away (readdAfterRemoval) are moved back to granting (Checked, not
// PreExisting, not Shared) and claimed by owner for readdLease from at,
// taking over any claim on them (its holder's next write fails with
// ErrStaleGrant), each with a grant.readded event (ReasonReadded) in the
// same transaction, and returned, so that the caller adds the member again.
// Otherwise ErrStaleGrant (ErrNotFound) and no change.
func FinishRevoke(ctx context.Context, st GrantStore, grantID, owner string, at time.Time, ev AuditEvent) ([]Grant, error) {
	var readd []Grant
	err := errors.Join(checkOwner(owner), checkTime("revocation", at))
	if err == nil {
		err = withGrant(ctx, st, grantID, at, func(m *Membership, g *Grant, tx MembershipTx) error {
			var err error
			readd, err = finishRevoke(m, g, tx, owner, at, ev)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("finish revocation of grant %s: %w", grantID, err)
	}
	return readd, nil
}

// finishRevoke is FinishRevoke's decision on grant g of the locked m.
func finishRevoke(m *Membership, g *Grant, tx MembershipTx, owner string, at time.Time, ev AuditEvent) ([]Grant, error) {
	if err := closeGrantFrom(tx, g, []GrantState{GrantRevoking, GrantIrrevocable}, owner, at, ev); err != nil {
		return nil, err
	}
	// The ledger stops calling the membership pre-existing: a write only
	// where it did.
	if m.PreExisting {
		if err := tx.SetPreExisting(false, at); err != nil {
			return nil, err
		}
	}
	var readd []Grant
	for _, o := range readdAfterRemoval(m, g.ID) {
		back, err := tx.UpdateGrant(GrantUpdate{
			ID: o.ID, From: []GrantState{GrantActive, GrantGranting}, AnyClaim: true,
			State: GrantGranting, MarkChecked: true, ClearPreExisting: true, ClearShared: true,
			ClaimBy: owner, ClaimUntil: at.Add(readdLease),
		})
		if err != nil {
			return nil, fmt.Errorf("move grant %s back to granting: %w", o.ID, err)
		}
		err = tx.Append(AuditEvent{
			At: at, Actor: ev.Actor, Action: ActionRegranted, RequestID: back.RequestID,
			Profile: back.Profile, GroupID: back.GroupID, TargetUserID: back.User.ObjectID, Reason: ReasonReadded,
		})
		if err != nil {
			return nil, err
		}
		readd = append(readd, back)
	}
	return readd, nil
}

// CloseGone closes an active grant whose member is no longer in the group
// (removed outside jitbot), if no replica holds a live claim on it at at:
// revoked at at, request expired, ev appended (At defaults to at). The
// membership is gone, so the ledger stops calling it pre-existing.
// Otherwise ErrStaleGrant (ErrNotFound) and no change.
func CloseGone(ctx context.Context, st GrantStore, grantID string, at time.Time, ev AuditEvent) error {
	err := checkTime("close", at)
	if err == nil {
		err = withGrant(ctx, st, grantID, at, func(_ *Membership, g *Grant, tx MembershipTx) error {
			if err := closeGrantFrom(tx, g, []GrantState{GrantActive}, "", at, ev); err != nil {
				return err
			}
			return tx.SetPreExisting(false, at)
		})
	}
	if err != nil {
		return fmt.Errorf("close grant %s of a departed member: %w", grantID, err)
	}
	return nil
}

func checkOwner(owner string) error {
	if owner == "" {
		return errors.New("owner is empty")
	}
	return nil
}
