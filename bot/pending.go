package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot/connector"
	"github.com/jitbot/jitbot/cards"
)

// RemindApprovers replies in the approval card's thread that the request
// still waits for a decision, and until when.
func (n *Notifier) RemindApprovers(ctx context.Context, req *access.Request, num int) error {
	chat := req.ApprovalChat
	if chat.ConversationID == "" {
		return fmt.Errorf("remind approvers of %s: no approval thread", req.ID)
	}
	text := fmt.Sprintf("Reminder %d of %d: %s's request for %s (%s) still waits for a decision.",
		num, access.MaxReminders, access.Escape(req.Requester.Name), req.Profile, access.FormatDuration(req.Duration))
	if !req.DecideBy.IsZero() {
		text += fmt.Sprintf(" Without one it expires at %s.", access.FormatTime(req.DecideBy))
	}
	act := &schema.Activity{Type: schema.Message, Text: text}
	if _, err := n.Connector.SendActivity(ctx, n.serviceURL(chat), chat.ConversationID, act); err != nil {
		return fmt.Errorf("remind approvers of %s: %w", req.ID, err)
	}
	return nil
}

// SentPrivately is the one-line reply in a channel or group chat to a
// command whose answer is for the sender alone.
const SentPrivately = "I sent it to you in a private chat."

// StatusElsewhere answers a click on a status card's button outside the
// personal chat, which does nothing.
const StatusElsewhere = "Your status and its buttons work in your personal chat with me: send `status` there."

// parseCancel reads `cancel [<request id>]`.
func parseCancel(args []string) (Command, error) {
	return parseRequestID(commandCancel, args, "to name one")
}

// sendPersonal opens the 1:1 chat of the bot with a user (member is the
// user's channel account id "29:...", or empty for their object id) and
// sends act there.
func sendPersonal(ctx context.Context, conn Connector, serviceURL string, bot schema.ChannelAccount, tenantID, memberID, objectID string, act *schema.Activity) error {
	member := schema.ChannelAccount{ID: memberID, AadObjectID: objectID}
	if member.ID == "" {
		member.ID = objectID
	}
	res, err := conn.CreateConversation(ctx, serviceURL, connector.PersonalChat(bot, tenantID, member))
	if err != nil {
		return fmt.Errorf("open personal chat with %s: %w", objectID, err)
	}
	if _, err := conn.SendActivity(ctx, serviceURL, res.ID, act); err != nil {
		return fmt.Errorf("send to the personal chat of %s: %w", objectID, err)
	}
	return nil
}

// replyPrivately answers with a card meant for the sender alone: in place
// in their personal chat; from a channel or group chat in their personal
// chat, with a one-line reply in place. Nothing of the card is posted where
// others read.
func (b *Bot) replyPrivately(ctx context.Context, act *schema.Activity, card cards.Card) {
	b.sendPrivately(ctx, act, "", &card)
}

// replyTextPrivately is replyPrivately for a text about the sender's own
// requests and grants.
func (b *Bot) replyTextPrivately(ctx context.Context, act *schema.Activity, text string) {
	b.sendPrivately(ctx, act, text, nil)
}

func (b *Bot) sendPrivately(ctx context.Context, act *schema.Activity, text string, card *cards.Card) {
	if requesterChat(act).ConversationID != "" {
		b.reply(ctx, act, text, card)
		return
	}
	out := &schema.Activity{Type: schema.Message, Text: text}
	if card != nil {
		out.Attachments = []schema.Attachment{attachment(*card)}
	}
	if err := sendPersonal(ctx, b.cfg.Connector, act.ServiceURL, act.Recipient, tenantOf(act), act.From.ID, act.From.AadObjectID, out); err != nil {
		b.log.Error("reply in the personal chat", "conversation", act.Conversation.ID, "err", err)
		b.reply(ctx, act, "I could not open a private chat with you; send me the command in our personal chat.", nil)
		return
	}
	b.reply(ctx, act, SentPrivately, nil)
}

// cancelCommand handles `cancel [<request id>]`.
func (b *Bot) cancelCommand(ctx context.Context, act *schema.Activity, cmd Command) {
	req, err := b.cfg.Service.Cancel(ctx, access.CancelInput{
		TenantID: tenantOf(act), RequestID: cmd.RequestID, Who: personOf(act),
		ConversationID: act.Conversation.ID, ActivityID: act.ID,
	})
	if err != nil {
		b.replyTextPrivately(ctx, act, b.userError(err))
		return
	}
	b.replyTextPrivately(ctx, act, fmt.Sprintf("Your request for %s (%s) is cancelled; nothing was granted.", req.Profile, access.FormatDuration(req.Duration)))
}

// cancelClick handles the Cancel button of a "request received" card, or
// of the requester's view of the approval card (onApproval): the card is
// replaced by the request as it now stands. A Cancel of a request
// that is no longer pending shows it as it stands. Anyone else's is
// refused: on the "request received" card they are told why and see
// nothing of the request; on the approval card they get their own view of
// it, which a refresh would give them anyway.
func (b *Bot) cancelClick(ctx context.Context, act *schema.Activity, requestID string, onApproval bool) (int, any) {
	if requestID == "" {
		return http.StatusOK, cards.MessageResponse("This card names no request.")
	}
	req, err := b.cfg.Service.Cancel(ctx, access.CancelInput{
		TenantID: tenantOf(act), RequestID: requestID, Who: personOf(act),
		ConversationID: act.Conversation.ID, ActivityID: act.ReplyToID,
	})
	if onApproval {
		// The requester's view of the approval card: the answer is the
		// clicker's own view of it, as a refresh would give them.
		return http.StatusOK, b.clickAnswer(ctx, act, requestID, req, err)
	}
	if err != nil {
		var r *access.Refusal
		if errors.As(err, &r) && r.Request != nil && errors.Is(err, access.ErrNotPending) {
			return http.StatusOK, cards.InvokeResponse(cards.Submitted(r.Request, b.cfg.Names.forRequests(ctx, r.Request)))
		}
		return http.StatusOK, cards.MessageResponse(b.userError(err))
	}
	return http.StatusOK, cards.InvokeResponse(cards.Submitted(req, b.cfg.Names.forRequests(ctx, req)))
}

// statusCard is the user's status card, with their groups' display names
// and opts' line on top.
func (b *Bot) statusCard(ctx context.Context, tenant string, user access.Person, opts cards.StatusOptions) (cards.Card, error) {
	reqs, err := b.cfg.Service.Status(ctx, tenant, user)
	if err != nil {
		return cards.Card{}, err
	}
	ptrs := make([]*access.Request, len(reqs))
	for i := range reqs {
		ptrs[i] = &reqs[i]
	}
	opts.Extendable = map[string]bool{}
	for _, r := range ptrs {
		if b.cfg.Service.MayExtend(r) {
			opts.Extendable[r.ID] = true
		}
	}
	return cards.Status(reqs, b.cfg.Names.forRequests(ctx, ptrs...), opts), nil
}

// statusClick handles Cancel and I'm done on the status card: the card is
// replaced by the clicker's status as it now stands, with a line saying
// what the click did, or why it did nothing (a refusal changes nothing;
// someone else's click shows nothing of the request). The status card is
// only ever sent to a personal chat: a click from anywhere else does
// nothing, so that no one's status is shown where others read along.
func (b *Bot) statusClick(ctx context.Context, act *schema.Activity, verb, requestID string) cards.Response {
	if requesterChat(act).ConversationID == "" {
		return cards.MessageResponse(StatusElsewhere)
	}
	tenant, who := tenantOf(act), personOf(act)
	var opts cards.StatusOptions
	var err error
	switch {
	case requestID == "":
		opts.Refused = "This button names no request."
	case verb == cards.VerbCancel:
		var req *access.Request
		req, err = b.cfg.Service.Cancel(ctx, access.CancelInput{
			TenantID: tenant, RequestID: requestID, Who: who,
			ConversationID: act.Conversation.ID, ActivityID: act.ReplyToID,
		})
		if err == nil {
			opts.Note = fmt.Sprintf("Your request for %s (%s) is cancelled; nothing was granted.", req.Profile, access.FormatDuration(req.Duration))
		}
	default:
		var req *access.Request
		req, err = b.cfg.Service.Release(ctx, access.EndInput{
			TenantID: tenant, RequestID: requestID, Who: who,
			ConversationID: act.Conversation.ID, ActivityID: act.ReplyToID,
		})
		if err == nil {
			opts.Note = fmt.Sprintf("Your access to %s has ended.", req.Profile)
			if req.State != access.RequestExpired {
				opts.Note = fmt.Sprintf("Your access to %s is ending: its membership is being removed.", req.Profile)
			}
		}
	}
	var r *access.Refusal
	switch {
	case errors.As(err, &r):
		opts.Refused = r.Reason
	case err != nil:
		return cards.MessageResponse(b.userError(err))
	}
	return b.statusClickAnswer(ctx, act, opts)
}

// statusClickAnswer answers a click on the status card with the clicker's
// status card as it now stands, opts' line on top; outside the personal
// chat, with a message only (see statusClick).
func (b *Bot) statusClickAnswer(ctx context.Context, act *schema.Activity, opts cards.StatusOptions) cards.Response {
	if requesterChat(act).ConversationID == "" {
		return cards.MessageResponse(StatusElsewhere)
	}
	card, err := b.statusCard(ctx, tenantOf(act), personOf(act), opts)
	if err != nil {
		return cards.MessageResponse(b.userError(err))
	}
	return cards.InvokeResponse(card)
}
