package bot

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/api/entraauth"
	"github.com/jitbot/jitbot/cards"
)

// UserTokens validates the single sign-on token Teams sends with a card
// action (*entraauth.UserValidator implements it).
type UserTokens interface {
	Validate(ctx context.Context, raw string) (entraauth.UserClaims, error)
}

var _ UserTokens = (*entraauth.UserValidator)(nil)

// SSO configures the approvers' step-up sign-in through Teams single
// sign-on.
type SSO struct {
	// Tokens validates the user tokens (tenant keys, issuer, audience,
	// expiry, delegated scope).
	Tokens UserTokens
	// Resource is the single sign-on app's application id URI, which
	// Teams gets a token for (tokenExchangeResource.uri).
	Resource string
	// ConnectionName is the OAuth connection of the Azure Bot resource
	// named in the sign-in request.
	ConnectionName string
}

// invokeAuthentication is value.authentication of an adaptiveCard/action
// invoke that Teams sends again after a sign-in request.
type invokeAuthentication struct {
	ID             string `json:"id"`
	ConnectionName string `json:"connectionName"`
	Token          string `json:"token"`
}

// stepUpProof validates the single sign-on token of an approval click and
// returns what it proves; nil when there is none, no single sign-on is
// configured, or it failed validation (logged; the click then counts as one
// without a token).
func (b *Bot) stepUpProof(ctx context.Context, act *schema.Activity, auth *invokeAuthentication) *access.StepUpProof {
	if b.cfg.SSO == nil || auth == nil || strings.TrimSpace(auth.Token) == "" {
		return nil
	}
	c, err := b.cfg.SSO.Tokens.Validate(ctx, auth.Token)
	if err != nil {
		b.log.Warn("single sign-on token of an approval refused", "from", act.From.AadObjectID, "err", err)
		return nil
	}
	// The token's unique id is what Entra ID's sign-in logs show for it.
	b.log.Info("single sign-on token with an approval", "from", act.From.AadObjectID, "oid", c.ObjectID,
		"uti", c.TokenID, "iat", c.IssuedAt, "acrs", c.AuthContexts, "client", c.AppID)
	return &access.StepUpProof{ObjectID: c.ObjectID, AuthContexts: c.AuthContexts, IssuedAt: c.IssuedAt, TokenID: c.TokenID}
}

// decisionAnswer answers an approval or denial click. An approval the
// domain refused for want of a step-up sign-in, from a click that brought
// no token, is answered with a sign-in request, so Teams signs the approver
// in and sends the click again with a token; a click that brought a token
// that is not enough (too old, without the authentication context, of
// another user, invalid) gets the approver's card saying to sign in again,
// since asking Teams for the same token once more would only repeat it.
func (b *Bot) decisionAnswer(ctx context.Context, act *schema.Activity, requestID string, auth *invokeAuthentication, req *access.Request, err error) (int, any) {
	var r *access.Refusal
	if b.cfg.SSO != nil && errors.As(err, &r) && errors.Is(err, access.ErrStepUpRequired) && (auth == nil || strings.TrimSpace(auth.Token) == "") {
		return http.StatusOK, cards.LoginResponse(r.Reason, cards.LoginRequest{
			ConnectionName:        b.cfg.SSO.ConnectionName,
			TokenExchangeResource: cards.TokenExchangeResource{ID: uuid.NewString(), URI: b.cfg.SSO.Resource},
		})
	}
	// A refused click (not an approver, the requester, a stale or repeated
	// click, a missing reason or sign-in) shows the clicker's own card with
	// the reason.
	return http.StatusOK, b.clickAnswer(ctx, act, requestID, req, err)
}
