package access

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// StepUp is a profile's step-up rule for approvals: an Approve counts only
// when the approver proved, with a user token issued through Teams single
// sign-on, that they satisfied the Conditional Access authentication
// context AuthContext (the token's "acrs" claim) no longer than Within ago.
// The zero value asks for no step-up.
type StepUp struct {
	// AuthContext is the authentication context id, "c1" to "c99".
	AuthContext string
	// Within is how old the token may be, measured from its issue time.
	Within time.Duration
}

// On reports whether the rule asks for a step-up.
func (s StepUp) On() bool { return s.AuthContext != "" }

// DefaultStepUpWithin is StepUp.Within when the configuration names none.
const DefaultStepUpWithin = 10 * time.Minute

// Bounds of StepUp.Within. Entra ID backdates a token's issue time by
// five minutes (TokenBackdating), so a window of five minutes or less could
// never be met; a window of more than an hour is no fresh sign-in.
const (
	TokenBackdating = 5 * time.Minute
	MaxStepUpWithin = time.Hour
)

// authContextID is the form of a Conditional Access authentication
// context id: c1 to c99.
var authContextID = regexp.MustCompile(`^c([1-9]|[1-9][0-9])$`)

// Validate checks the rule's own consistency; the error names the key.
func (s StepUp) Validate() error {
	if !s.On() {
		if s.Within != 0 {
			return errors.New("approvers.step_up.auth_context is required: the authentication context id, c1 to c99")
		}
		return nil
	}
	switch {
	case !authContextID.MatchString(s.AuthContext):
		return fmt.Errorf("approvers.step_up.auth_context: want an authentication context id c1 to c99, got %q", s.AuthContext)
	case s.Within <= TokenBackdating || s.Within > MaxStepUpWithin:
		return fmt.Errorf("approvers.step_up.within: want more than %s (Entra ID backdates tokens by %s) and at most %s, got %s",
			FormatDuration(TokenBackdating), FormatDuration(TokenBackdating), FormatDuration(MaxStepUpWithin), FormatDuration(s.Within))
	}
	return nil
}

// StepUpProof is what the bot verified of the user token that came with an
// approver's click: a token of the tenant, signed by its keys, for jitbot's
// single sign-on app, unexpired, delegated by a user. Whether it is enough
// for the profile is decided here, not by the bot.
type StepUpProof struct {
	// ObjectID is the user the token was issued to ("oid").
	ObjectID string
	// AuthContexts are the authentication contexts the user satisfied
	// ("acrs").
	AuthContexts []string
	// IssuedAt is the token's issue time ("iat").
	IssuedAt time.Time
	// TokenID is the token's unique id ("uti"), for the audit trail.
	TokenID string
}

// ErrStepUpRequired: the profile asks for a fresh sign-in with its
// authentication context to approve, and the click brought no token that
// proves one. The approver is asked to sign in again.
var ErrStepUpRequired = errors.New("step-up sign-in required")

// checkStepUp refuses an approval of a step-up profile that is not backed
// by a fitting proof: one of the approver, with the profile's
// authentication context, issued within the profile's window. The refusal
// is audited and changes nothing else. A denial needs no step-up: it
// grants nothing, and stopping a request must stay as easy as possible.
func (s *Service) checkStepUp(ctx context.Context, p Profile, req *Request, in DecisionInput) *Refusal {
	if !p.StepUp.On() || in.Verdict != Approve {
		return nil
	}
	why := stepUpShortfall(p.StepUp, in, s.cfg.Clock.Now().UTC())
	if why == "" {
		return nil
	}
	r := refuse(ErrStepUpRequired, "Approving %s needs a fresh sign-in (with multi-factor authentication or a compliant device). Sign in when Teams asks, then press Approve again; nothing was changed.", p.Name)
	r.Request = req
	s.auditRefusal(ctx, in.Approver, ActionDecisionRefused, req, "step-up: "+why, in.ConversationID, in.ActivityID)
	return r
}

// stepUpShortfall says why in's proof does not meet rule at now, or "".
func stepUpShortfall(rule StepUp, in DecisionInput, now time.Time) string {
	proof := in.StepUp
	switch {
	case proof == nil && in.StepUpMissing != "":
		return in.StepUpMissing
	case proof == nil:
		return "no valid single sign-on token came with the approval"
	case !IsObjectID(proof.ObjectID) || !strings.EqualFold(proof.ObjectID, in.Approver.ObjectID):
		return fmt.Sprintf("the single sign-on token is of user %s, not of the approver", proof.ObjectID)
	case !slices.Contains(proof.AuthContexts, rule.AuthContext):
		return fmt.Sprintf("the single sign-on token lacks authentication context %s (it has %v)", rule.AuthContext, proof.AuthContexts)
	case proof.IssuedAt.IsZero():
		return "the single sign-on token has no issue time"
	case now.Sub(proof.IssuedAt) > rule.Within:
		return fmt.Sprintf("the single sign-on token was issued %s ago, more than %s", FormatDuration(now.Sub(proof.IssuedAt).Truncate(time.Second)), FormatDuration(rule.Within))
	}
	return ""
}
