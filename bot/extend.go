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
)

// Extending a grant from Teams: the requester's `extend` command and the
// Extend button of their expiry reminder. Whether and how the grant is
// extended is the access service's decision; the bot passes on who asked,
// how much longer and why.

// commandExtend asks for more time on the sender's active grant:
// `extend [<request id>] <duration> <reason...>`.
const commandExtend = "extend"

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
	b.replyPrivately(ctx, act, extendedCard(res))
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
	res, err := b.cfg.Service.Extend(ctx, access.ExtendInput{
		TenantID: tenantOf(act), RequestID: field(data, cards.DataRequestID), Who: personOf(act),
		Duration: d, Reason: field(data, cards.InputExtendReason),
		ConversationID: act.Conversation.ID, ActivityID: act.ReplyToID,
	})
	if err != nil {
		var r *access.Refusal
		if errors.As(err, &r) && r.Request != nil && errors.Is(err, access.ErrNotActive) {
			// A late click: show the grant as it stands.
			return cards.InvokeResponse(cards.Granted(r.Request))
		}
		return cards.MessageResponse(b.userError(err))
	}
	return cards.InvokeResponse(extendedCard(res))
}

// extendedCard is the answer to an accepted extension.
func extendedCard(res *access.ExtendResult) cards.Card {
	if res.Extended != nil {
		return cards.Extended(res.Extended)
	}
	return cards.Submitted(res.Pending)
}

// extensionActivity is a notice about an extension or the end of a grant
// sent as its card (the expiry reminder, the "access extended" card),
// with the notice's text as its summary; ok is false for other notices.
func extensionActivity(req *access.Request, msg access.Notice) (*schema.Activity, bool) {
	if req.Grant == nil {
		return nil, false
	}
	summary := strings.TrimSpace(msg.Text)
	switch msg.Kind {
	case access.NoticeExpiring:
		if summary == "" {
			summary = cards.ExpiryReminderSummary(req)
		}
		return cardNotice(summary, cards.ExpiryReminder(req)), true
	case access.NoticeExtended:
		if summary == "" {
			summary = cards.ExtendedSummary(req)
		}
		return cardNotice(summary, cards.Extended(req)), true
	}
	return nil, false
}
