package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/cards"
	"github.com/jitbot/jitbot/internal/chatcmd"
)

// Extending a grant from Teams: the requester's `extend` command and the
// Extend button of their expiry reminder. Whether and how the grant is
// extended is the access service's decision; the bot passes on who asked,
// how much longer and why.

// commandExtend asks for more time on the sender's active grant:
// `extend [<request id>] <duration> <reason...>`.
const commandExtend = chatcmd.Extend

// extendUsage is how the command is written.
const extendUsage = "extend [<request id>] <duration> <reason>"

// parseExtend reads `extend [<request id>] <duration> <reason...>`: the
// first word is the duration unless it is not one, then it is the request
// id and the duration follows.
func parseExtend(args []string) (Command, error) {
	c := Command{Verb: commandExtend}
	usage := fmt.Errorf("Write %s, e.g. %s.", access.Quote(extendUsage), access.Quote("extend 30m the migration is still running"))
	if len(args) == 0 {
		return c, usage
	}
	d, err := parseDuration(args[0])
	if err != nil {
		if len(args) < 2 {
			return c, usage
		}
		c.RequestID = args[0]
		if d, err = parseDuration(args[1]); err != nil {
			return c, err
		}
		args = args[1:]
	}
	c.Duration = d
	c.Reason = strings.Join(args[1:], " ")
	return c, nil
}

// parseDuration reads a duration as people type it (45m, 2h, 1h30m).
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.ToLower(strings.TrimSpace(s)))
	if err != nil {
		return 0, fmt.Errorf("%s is not a duration; write it like `30m`, `1h` or `1h30m`.", access.Quote(s))
	}
	return d, nil
}

// extendCommand answers `extend`, in the sender's personal chat: the
// "access extended" card, the "request received" card of the extension
// sent to the approvers, or why nothing was extended.
func (b *Bot) extendCommand(ctx context.Context, act *schema.Activity, cmd Command) {
	res, err := b.cfg.Service.Extend(ctx, access.ExtendInput{
		TenantID: tenantOf(act), RequestID: cmd.RequestID, Who: personOf(act),
		Duration: cmd.Duration, Reason: cmd.Reason,
		ConversationID: act.Conversation.ID, ActivityID: act.ID,
	})
	if err != nil {
		b.replyTextPrivately(ctx, act, b.userError(err))
		return
	}
	b.replyPrivately(ctx, act, b.extendedCard(ctx, res))
}

// extendClick handles Extend on the expiry reminder: the card is replaced
// with the outcome; a refusal is a message and leaves the card, so the
// requester can correct what they typed.
func (b *Bot) extendClick(ctx context.Context, act *schema.Activity, data map[string]any) cards.Response {
	text := field(data, cards.InputExtendDuration)
	if access.Length(text) > access.MaxDurationText {
		return cards.MessageResponse(fmt.Sprintf("The duration is too long (%d characters); write it like 30m or 1h.", access.Length(text)))
	}
	d, err := parseDuration(text)
	if err != nil {
		return cards.MessageResponse(err.Error())
	}
	// The grant's end the card showed; a card posted before cards carried
	// it sends none, and its extension is applied as the command's.
	var from time.Time
	if raw := field(data, cards.DataExtendsFrom); raw != "" {
		if from, err = time.Parse(time.RFC3339Nano, raw); err != nil {
			return cards.MessageResponse("This card is out of date: send `status` and press Extend there.")
		}
	}
	res, err := b.cfg.Service.Extend(ctx, access.ExtendInput{
		TenantID: tenantOf(act), RequestID: field(data, cards.DataRequestID), Who: personOf(act),
		Duration: d, Reason: field(data, cards.InputExtendReason), From: from,
		ConversationID: act.Conversation.ID, ActivityID: act.ReplyToID,
	})
	if err != nil {
		var r *access.Refusal
		if errors.As(err, &r) && r.Request != nil && errors.Is(err, access.ErrNotActive) {
			// A late click: show the grant as it stands.
			return cards.InvokeResponse(cards.Granted(r.Request, b.cfg.Names.forRequests(ctx, r.Request)))
		}
		return cards.MessageResponse(b.userError(err))
	}
	return cards.InvokeResponse(b.extendedCard(ctx, res))
}

// extendedCard is the answer to an accepted extension.
func (b *Bot) extendedCard(ctx context.Context, res *access.ExtendResult) cards.Card {
	if res.Extended != nil {
		return cards.Extended(res.Extended, b.cfg.Names.forRequests(ctx, res.Extended))
	}
	return cards.Submitted(res.Pending, b.cfg.Names.forRequests(ctx, res.Pending))
}

// extendForm answers Extend on the status card or on the requester's view
// of the approval card (from) with the form that asks how much longer and
// why. Only the requester of a grant that may be extended gets it; anyone
// else gets the card they pressed, as it stands for them, with why. The
// form changes nothing: what it sends is checked by Extend.
func (b *Bot) extendForm(ctx context.Context, act *schema.Activity, from, requestID string) cards.Response {
	if from == cards.CardStatus && requesterChat(act).ConversationID == "" {
		// The status card works in the personal chat only (statusClick):
		// no form with the grant where others read along.
		return cards.MessageResponse(StatusElsewhere)
	}
	why := "Only the person who asked for this access can extend it, while it is active and its profile allows more time."
	req, err := b.cfg.Service.Request(ctx, tenantOf(act), requestID)
	switch {
	case (errors.Is(err, access.ErrNotFound) || requestID == "") && from == cards.CardStatus:
		// As for someone else's request: the answer tells no id from
		// another.
		return b.statusClickAnswer(ctx, act, cards.StatusOptions{Refused: why})
	case errors.Is(err, access.ErrNotFound) || requestID == "":
		return cards.InvokeResponse(cards.NotFound(requestID))
	case err != nil:
		return cards.MessageResponse(b.userError(err))
	}
	mine := strings.EqualFold(req.Requester.ObjectID, act.From.AadObjectID) && access.IsObjectID(act.From.AadObjectID)
	if mine && b.cfg.Service.MayExtend(req) {
		return cards.InvokeResponse(cards.ExtendForm(req, b.cfg.Names.forRequests(ctx, req)))
	}
	if from == cards.CardApproval {
		return cards.InvokeResponse(b.viewerCard(ctx, act, req, why))
	}
	return b.statusClickAnswer(ctx, act, cards.StatusOptions{Refused: why})
}
