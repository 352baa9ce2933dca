package bot

import (
	"context"
	"errors"
	"strings"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/cards"
)

// Each viewer's approval card. The card posted in the approvers' channel
// has the approvers' buttons; Teams asks the bot for the own card of the
// users in its refresh.userIds (the refresh invoke), and every click is
// answered with the clicker's own card. What a person may do is the access
// service's decision (Service.Viewer); the card only shows it.

// viewerCard is req's approval card as the sender of act sees it: their
// buttons only, and note (why their click changed nothing, or "") at the
// top. When what they may do cannot be checked, the card is read-only.
//
// The card is the approvers' channel's: someone with no part in the request
// (not its requester, an approver, a member of the security or admin
// groups) is shown it only when they press or refresh it in the channel
// where it is posted, where they read it anyway. From anywhere else (a
// crafted action naming the request's id) they get the card of a request
// that does not exist, and learn nothing of it.
func (b *Bot) viewerCard(ctx context.Context, act *schema.Activity, req *access.Request, note string) cards.Card {
	p, _ := b.cfg.Service.Profile(req.Profile)
	v, err := b.cfg.Service.Viewer(ctx, tenantOf(act), req, personOf(act))
	if err != nil {
		b.log.Error("check what the viewer may do; showing the card read-only", "request", req.ID, "viewer", act.From.AadObjectID, "err", err)
		v = access.Viewer{}
		if !inCardChannel(act, req, p) {
			return cards.Notice("jitbot could not check what you may do on this request just now; try again in a minute.")
		}
		if note == "" {
			note = "jitbot could not check what you may do on this request just now; try again in a minute."
		}
	}
	if !v.Requester && !v.Approver && !v.Security && !v.Admin && !inCardChannel(act, req, p) {
		b.log.Warn("approval card asked for outside its channel by someone with no part in the request; answered as not found",
			"request", req.ID, "viewer", act.From.AadObjectID, "conversation", act.Conversation.ID)
		return cards.NotFound(req.ID)
	}
	return cards.Approval(req, p, cards.ApprovalOptions{
		View: &v, Note: note, GroupName: groupName(ctx, b.cfg.Names, req, p), RefreshUserIDs: b.cfg.Audience.UserIDs(ctx, act.ServiceURL, req, p),
	})
}

// refreshCard answers the approval card's refresh invoke with the sender's
// own card; an unknown request gets a read-only "not found" card.
func (b *Bot) refreshCard(ctx context.Context, act *schema.Activity, requestID string) cards.Response {
	if requestID == "" {
		return cards.InvokeResponse(cards.NotFound(""))
	}
	req, err := b.cfg.Service.Request(ctx, tenantOf(act), requestID)
	if errors.Is(err, access.ErrNotFound) {
		return cards.InvokeResponse(cards.NotFound(requestID))
	}
	if err != nil {
		return cards.MessageResponse(b.userError(err))
	}
	return cards.InvokeResponse(b.viewerCard(ctx, act, req, ""))
}

// clickAnswer answers a click on the approval card whose action returned
// req and err: the clicker's own card of the request as it now stands,
// with the refusal's reason on it when the click changed nothing (a click
// by someone who may not act is refused and audited by the service, and
// they see their read-only card, or the requester's). Only a click from
// another tenant, and a failure of jitbot's own, get a message instead.
func (b *Bot) clickAnswer(ctx context.Context, act *schema.Activity, requestID string, req *access.Request, err error) cards.Response {
	if err == nil {
		return cards.InvokeResponse(b.viewerCard(ctx, act, req, ""))
	}
	var r *access.Refusal
	if !errors.As(err, &r) || errors.Is(err, access.ErrWrongTenant) {
		return cards.MessageResponse(b.userError(err))
	}
	cur := r.Request
	if cur == nil {
		var lerr error
		cur, lerr = b.cfg.Service.Request(ctx, tenantOf(act), requestID)
		if errors.Is(lerr, access.ErrNotFound) || requestID == "" {
			return cards.InvokeResponse(cards.NotFound(requestID))
		}
		if lerr != nil {
			return cards.MessageResponse(b.userError(lerr))
		}
	}
	reason := r.Reason
	if errors.Is(err, access.ErrNotFound) && !strings.EqualFold(act.From.AadObjectID, cur.Requester.ObjectID) {
		// The domain answers someone else's request as an unknown one, so
		// that a typed id tells nobody it exists; on the card, which
		// shows the request anyway, the clicker is told why instead.
		reason = notRequesterNote
	}
	return cards.InvokeResponse(b.viewerCard(ctx, act, cur, reason))
}

// notRequesterNote is the note on the approval card when someone other
// than the requester presses the requester's Cancel or I'm done.
const notRequesterNote = "Only the person who asked for this access can do that; nothing was changed."

// inCardChannel reports whether act comes from a channel where req's
// approval card is posted: the profile's approvers' or escalation channel,
// or the channel of the card's stored thread. A channel thread's
// conversation id is "<channel id>;messageid=<root message id>".
func inCardChannel(act *schema.Activity, req *access.Request, p access.Profile) bool {
	from := channelOfConversation(act.Conversation.ID)
	if from == "" {
		return false
	}
	for _, c := range []string{
		p.ApproverChannelID, p.EscalationChannelID,
		channelOfConversation(req.ApprovalChat.ConversationID), channelOfConversation(req.EscalationChat.ConversationID),
	} {
		if c != "" && strings.EqualFold(c, from) {
			return true
		}
	}
	return false
}

// channelOfConversation is a conversation id without its ";messageid=..."
// part.
func channelOfConversation(id string) string {
	ch, _, _ := strings.Cut(strings.TrimSpace(id), ";")
	return ch
}
