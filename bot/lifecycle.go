package bot

import (
	"context"
	"errors"
	"fmt"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/cards"
)

// Ending a grant early from Teams: the requester's `release` command and
// I'm done button, and the approval card's Revoke now button. Who may do
// what is the access service's decision; the bot passes on who clicked.

// parseRelease reads `release [<request id>]`.
func parseRelease(args []string) (Command, error) {
	return parseRequestID(commandRelease, args, "when you have several active grants")
}

// parseRequestID reads `<verb> [<request id>]`: without an id the command
// is about the sender's only request of its kind.
func parseRequestID(verb string, args []string, several string) (Command, error) {
	c := Command{Verb: verb}
	switch len(args) {
	case 0:
	case 1:
		c.RequestID = args[0]
	default:
		return c, fmt.Errorf("Write %s, or %s %s.", access.Quote(verb), access.Quote(verb+" <request id>"), several)
	}
	return c, nil
}

// releaseCommand answers `release`, in the sender's personal chat: the
// grant's card as it now stands, or why nothing was released.
func (b *Bot) releaseCommand(ctx context.Context, act *schema.Activity, cmd Command) {
	req, err := b.cfg.Service.Release(ctx, access.EndInput{
		TenantID: tenantOf(act), RequestID: cmd.RequestID, Who: personOf(act),
		ConversationID: act.Conversation.ID, ActivityID: act.ID,
	})
	if err != nil {
		b.replyTextPrivately(ctx, act, b.userError(err))
		return
	}
	b.replyPrivately(ctx, act, cards.Granted(req, b.cfg.Names.forRequests(ctx, req)))
}

// endEarly handles I'm done (on the requester's access granted card, or
// their view of the approval card) and Revoke now (on the approval card).
// The answer replaces the card acted on with its current state. On the
// approval card that is the clicker's own view, with the reason when the
// click was refused; on the access granted card a refusal is a message and
// leaves the card.
func (b *Bot) endEarly(ctx context.Context, act *schema.Activity, verb string, data map[string]any) cards.Response {
	in := access.EndInput{
		TenantID: tenantOf(act), RequestID: field(data, cards.DataRequestID), Who: personOf(act),
		ConversationID: act.Conversation.ID, ActivityID: act.ReplyToID,
	}
	var req *access.Request
	var err error
	if verb == cards.VerbRelease {
		req, err = b.cfg.Service.Release(ctx, in)
	} else {
		in.Reason = field(data, cards.InputRevokeReason)
		req, err = b.cfg.Service.RevokeNow(ctx, in)
	}
	if verb == cards.VerbRevokeNow || field(data, cards.DataCard) == cards.CardApproval {
		return b.clickAnswer(ctx, act, in.RequestID, req, err)
	}
	view := func(req *access.Request) cards.Card { return cards.Granted(req, b.cfg.Names.forRequests(ctx, req)) }
	if err != nil {
		var r *access.Refusal
		if errors.As(err, &r) && r.Request != nil && errors.Is(err, access.ErrNotActive) {
			// A repeated or late click: show the card as it stands.
			return cards.InvokeResponse(view(r.Request))
		}
		return cards.MessageResponse(b.userError(err))
	}
	return cards.InvokeResponse(view(req))
}
