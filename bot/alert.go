package bot

import (
	"context"
	"errors"
	"strings"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/cards"
)

// alertGone is the answer about a grant that does not exist, and about one
// the sender may not see: the same, so that it tells no id from another.
const alertGone = "This grant does not exist (any more)."

// alertAction answers a refresh or a Retry now on an irrevocable alert
// card. The card (who, which group, Graph's error) is the security
// channel's: someone who is not on the security team (Service.AlertView
// says who is) gets it only in the security channel or the alert's own
// thread, where they read it anyway; from anywhere else (a crafted action
// naming the grant's id) the answer is an unknown grant's. A refused
// Retry now is audited by the service all the same.
func (b *Bot) alertAction(ctx context.Context, act *schema.Activity, verb, grantID string) cards.Response {
	tenant, who := tenantOf(act), personOf(act)
	if verb == cards.VerbRetryRevoke {
		a, err := b.cfg.Service.RetryNow(ctx, tenant, grantID, who)
		var r *access.Refusal
		switch {
		case err == nil:
			// Only the security team may retry: the outcome is theirs to see.
			return cards.InvokeResponse(cards.Alert(a, b.cfg.Names.forAlert(ctx, a)))
		case errors.Is(err, access.ErrNotFound):
			return cards.MessageResponse(alertGone)
		case !errors.As(err, &r) || errors.Is(err, access.ErrWrongTenant) || errors.Is(err, access.ErrNoIdentity):
			return cards.MessageResponse(b.userError(err))
		default:
			// Refused: say why only to whom the card may be shown.
			if !b.mayShowAlert(ctx, act, grantID) {
				return cards.MessageResponse(alertGone)
			}
			return cards.MessageResponse(r.Reason)
		}
	}
	v, err := b.cfg.Service.AlertView(ctx, tenant, grantID, who)
	if errors.Is(err, access.ErrNotFound) {
		return cards.MessageResponse(alertGone)
	}
	if err != nil {
		return cards.MessageResponse(b.userError(err))
	}
	if !v.Security && !inChats(act, v.Chats) {
		b.log.Warn("alert card asked for outside the security channel by someone not on the security team; answered as not found",
			"grant", grantID, "from", act.From.AadObjectID, "conversation", act.Conversation.ID)
		return cards.MessageResponse(alertGone)
	}
	a := v.Alert
	return cards.InvokeResponse(cards.Alert(a, b.cfg.Names.forAlert(ctx, a)))
}

// mayShowAlert reports whether the alert of grant id may be shown to the
// sender of act: on the security team, or in the alert's channel.
func (b *Bot) mayShowAlert(ctx context.Context, act *schema.Activity, grantID string) bool {
	v, err := b.cfg.Service.AlertView(ctx, tenantOf(act), grantID, personOf(act))
	if err != nil {
		if !errors.Is(err, access.ErrNotFound) {
			b.log.Error("check who may see an alert; answered as not found", "grant", grantID, "err", err)
		}
		return false
	}
	return v.Security || inChats(act, v.Chats)
}

// inChats reports whether act comes from the channel of one of chats
// (conversation ids, a channel thread's with its ";messageid=..." part).
func inChats(act *schema.Activity, chats []string) bool {
	from := channelOfConversation(act.Conversation.ID)
	if from == "" {
		return false
	}
	for _, c := range chats {
		if c := channelOfConversation(c); c != "" && strings.EqualFold(c, from) {
			return true
		}
	}
	return false
}
