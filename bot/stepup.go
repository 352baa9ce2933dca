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
	"github.com/jitbot/jitbot/bot/tokenservice"
	"github.com/jitbot/jitbot/cards"
)

// UserTokens validates the single sign-on token Teams sends with a card
// action (*entraauth.UserValidator implements it).
type UserTokens interface {
	Validate(ctx context.Context, raw string) (entraauth.UserClaims, error)
}

var _ UserTokens = (*entraauth.UserValidator)(nil)

// SignIns is the Bot Framework Token Service as the sign-in button of a
// step-up needs it (*tokenservice.Client implements it).
type SignIns interface {
	// SignInResource returns the sign-in link of the OAuth connection for
	// the user and conversation of conv.
	SignInResource(ctx context.Context, connectionName string, conv tokenservice.ConversationReference) (tokenservice.SignInResource, error)
	// UserToken returns the token the user userID obtained by signing in,
	// proven by the magic code (tokenservice.ErrNoToken when there is none).
	UserToken(ctx context.Context, userID, connectionName, channelID, code string) (tokenservice.TokenResponse, error)
}

var _ SignIns = (*tokenservice.Client)(nil)

// SSO configures the approvers' step-up sign-in through Teams single
// sign-on, with the OAuth card's sign-in button as its fallback.
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
	// SignIns is the Token Service behind the sign-in button; nil: the
	// sign-in request has no button (single sign-on only).
	SignIns SignIns
}

// invokeAuthentication is value.authentication of an adaptiveCard/action
// invoke that Teams sends again after a sign-in request.
type invokeAuthentication struct {
	ID             string `json:"id"`
	ConnectionName string `json:"connectionName"`
	Token          string `json:"token"`
}

// signInProof is what the bot made of the sign-in an approval click
// brought: the proof for the domain, why there is none although the click
// brought something (for the audit trail), and whether that was because
// the Token Service could not be asked.
type signInProof struct {
	proof       *access.StepUpProof
	missing     string
	unavailable bool
}

// brought reports whether the click came with a token or a sign-in code.
func brought(auth *invokeAuthentication, state string) bool {
	return auth != nil && strings.TrimSpace(auth.Token) != "" || strings.TrimSpace(state) != ""
}

// maxMissing bounds the reason written to the audit trail.
const maxMissing = 300

// stepUpProof validates the user token of an approval click: the single
// sign-on token Teams sent in value.authentication, or else the token the
// Token Service holds for the magic code in value.state (the sign-in
// button's path). Both are validated alike. Without single sign-on
// configured, or when the click brought neither, there is no proof.
func (b *Bot) stepUpProof(ctx context.Context, act *schema.Activity, auth *invokeAuthentication, state string) signInProof {
	sso := b.cfg.SSO
	if sso == nil || !brought(auth, state) {
		return signInProof{}
	}
	raw, via := "", "single sign-on token"
	if auth != nil && strings.TrimSpace(auth.Token) != "" {
		raw = strings.TrimSpace(auth.Token)
	} else {
		via = "signed-in token"
		code := strings.TrimSpace(state)
		if sso.SignIns == nil {
			return signInProof{missing: "a sign-in code came with the approval, but no token service is configured"}
		}
		tr, err := sso.SignIns.UserToken(ctx, act.From.ID, sso.ConnectionName, act.ChannelID, code)
		switch {
		case errors.Is(err, tokenservice.ErrNoToken):
			b.log.Warn("sign-in code of an approval refused by the token service", "from", act.From.AadObjectID)
			return signInProof{missing: "the token service has no token for the sign-in code that came with the approval (wrong, used, or of another user)"}
		case err != nil:
			b.log.Error("token service: the token of an approval's sign-in", "from", act.From.AadObjectID, "err", err)
			return signInProof{missing: "the token service could not be asked for the token of the sign-in code", unavailable: true}
		}
		raw = tr.Token
	}
	c, err := sso.Tokens.Validate(ctx, raw)
	if err != nil {
		b.log.Warn(via+" of an approval refused", "from", act.From.AadObjectID, "err", err)
		return signInProof{missing: truncate("the "+via+" was refused: "+err.Error(), maxMissing)}
	}
	// The token's unique id is what Entra ID's sign-in logs show for it.
	b.log.Info(via+" with an approval", "from", act.From.AadObjectID, "oid", c.ObjectID,
		"uti", c.TokenID, "iat", c.IssuedAt, "acrs", c.AuthContexts, "client", c.AppID)
	return signInProof{proof: &access.StepUpProof{ObjectID: c.ObjectID, AuthContexts: c.AuthContexts, IssuedAt: c.IssuedAt, TokenID: c.TokenID}}
}

// truncate shortens s to at most n runes.
func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// tokenServiceDown is the approver's note when the sign-in could not be
// checked because the Token Service did not answer.
const tokenServiceDown = "jitbot could not check your sign-in with the Bot Framework Token Service, so your approval was not counted and nothing was changed. Press Approve again in a minute; if it keeps failing, tell your Teams administrator."

// decisionAnswer answers an approval or denial click. An approval the
// domain refused for want of a step-up sign-in, from a click that brought
// neither a token nor a sign-in code, is answered with a sign-in request,
// so Teams signs the approver in (silently with single sign-on, else with
// the sign-in button) and sends the click again; a click that brought one
// that is not enough (too old, without the authentication context, of
// another user, invalid, a refused code) gets the approver's card saying to
// sign in again, since asking Teams once more would only repeat it.
func (b *Bot) decisionAnswer(ctx context.Context, act *schema.Activity, requestID string, auth *invokeAuthentication, state string, si signInProof, req *access.Request, err error) (int, any) {
	var r *access.Refusal
	if b.cfg.SSO != nil && errors.As(err, &r) && errors.Is(err, access.ErrStepUpRequired) {
		if !brought(auth, state) {
			return http.StatusOK, cards.LoginResponse(r.Reason, b.loginRequest(ctx, act))
		}
		if si.unavailable {
			shown := *r
			shown.Reason = tokenServiceDown
			err = &shown
		}
	}
	// A refused click (not an approver, the requester, a stale or repeated
	// click, a missing reason or sign-in) shows the clicker's own card with
	// the reason.
	return http.StatusOK, b.clickAnswer(ctx, act, requestID, req, err)
}

// signInTitle is the label of the sign-in button.
const signInTitle = "Sign in"

// loginRequest is the OAuth card of a sign-in request: the single sign-on
// resource and, when the Token Service gives one, the sign-in button for
// clients where single sign-on fails. Without the button (the Token
// Service is not configured or did not answer) single sign-on still works.
func (b *Bot) loginRequest(ctx context.Context, act *schema.Activity) cards.LoginRequest {
	sso := b.cfg.SSO
	lr := cards.LoginRequest{
		ConnectionName:        sso.ConnectionName,
		TokenExchangeResource: cards.TokenExchangeResource{ID: uuid.NewString(), URI: sso.Resource},
	}
	if sso.SignIns == nil {
		return lr
	}
	res, err := sso.SignIns.SignInResource(ctx, sso.ConnectionName, conversationReference(act))
	if err != nil {
		b.log.Error("token service: the sign-in link of a step-up approval; the sign-in request offers single sign-on only", "err", err)
		return lr
	}
	if x := res.TokenExchangeResource; x != nil && x.ID != "" {
		lr.TokenExchangeResource.ID = x.ID
		lr.TokenExchangeResource.ProviderID = x.ProviderID
	}
	lr.Buttons = []cards.SignInButton{{Type: cards.SignInButtonType, Title: signInTitle, Text: signInTitle, Value: res.SignInLink}}
	return lr
}

// conversationReference is the sign-in state's reference to act: the user
// who signs in, the bot, the conversation and the channel.
func conversationReference(act *schema.Activity) tokenservice.ConversationReference {
	return tokenservice.ConversationReference{
		ActivityID: act.ID,
		User:       tokenservice.Account{ID: act.From.ID, Name: act.From.Name, AadObjectID: act.From.AadObjectID},
		Bot:        tokenservice.Account{ID: act.Recipient.ID, Name: act.Recipient.Name},
		Conversation: tokenservice.Conversation{
			ID: act.Conversation.ID, IsGroup: act.Conversation.IsGroup,
			ConversationType: act.Conversation.ConversationType, TenantID: act.Conversation.TenantID,
		},
		ChannelID:  act.ChannelID,
		Locale:     act.Locale,
		ServiceURL: act.ServiceURL,
	}
}
