package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot/connector"
	"github.com/jitbot/jitbot/cards"
)

// Break-glass in Teams: the review card in the security channel, its
// reminders in the card's thread, and its buttons (Acknowledge, Revoke now).
// Who may do what is the access service's decision; every click is checked
// there and answered with the review card as it now stands.

// PostReviewAlert opens a thread in the security channel with the review
// card of req's break-glass grant.
func (n *Notifier) PostReviewAlert(ctx context.Context, req *access.Request, channelID string) (access.ConversationRef, string, error) {
	first := &schema.Activity{
		Type:        schema.Message,
		Summary:     cards.ReviewSummary(req),
		Attachments: []schema.Attachment{attachment(cards.Review(req, cards.ReviewOptions{Names: n.Names.forRequests(ctx, req)}))},
	}
	res, err := n.Connector.CreateConversation(ctx, n.ServiceURL, connector.ChannelThread(n.bot(), n.TenantID, channelID, first))
	if err != nil {
		return access.ConversationRef{}, "", fmt.Errorf("post break-glass review card to %s: %w", channelID, err)
	}
	return n.threadRef(res, n.ServiceURL)
}

// UpdateReviewAlert replaces the review card with the grant's state.
func (n *Notifier) UpdateReviewAlert(ctx context.Context, req *access.Request) error {
	g := req.Grant
	act := &schema.Activity{
		Type: schema.Message, ID: g.ReviewActivityID,
		Attachments: []schema.Attachment{attachment(cards.Review(req, cards.ReviewOptions{Names: n.Names.forRequests(ctx, req)}))},
	}
	if err := n.Connector.UpdateActivity(ctx, n.serviceURL(g.ReviewChat), g.ReviewChat.ConversationID, g.ReviewActivityID, act); err != nil {
		return fmt.Errorf("update break-glass review card of %s: %w", req.ID, err)
	}
	return nil
}

// RemindReview replies in the review card's thread that the break-glass
// grant is still unreviewed, and what happens at its deadline.
func (n *Notifier) RemindReview(ctx context.Context, req *access.Request, num int) error {
	g := req.Grant
	chat := g.ReviewChat
	if chat.ConversationID == "" {
		return fmt.Errorf("remind review of %s: no review thread", req.ID)
	}
	text := fmt.Sprintf("Reminder %d: %s's break-glass access to %s is not reviewed yet; review it by %s.",
		num, access.Escape(req.Requester.Name), req.Profile, access.FormatTime(g.ReviewBy))
	if p, ok := n.Profile(req.Profile); ok && p.RevokeIfUnreviewed {
		text += " Unreviewed then, jitbot revokes it."
	}
	act := &schema.Activity{Type: schema.Message, Text: text}
	if _, err := n.Connector.SendActivity(ctx, n.serviceURL(chat), chat.ConversationID, act); err != nil {
		return fmt.Errorf("remind review of %s: %w", req.ID, err)
	}
	return nil
}

// reviewClick handles Acknowledge and Revoke now on a review card: the
// answer is the review card as it now stands, with the reason on it when
// the click changed nothing.
func (b *Bot) reviewClick(ctx context.Context, act *schema.Activity, verb string, data map[string]any) cards.Response {
	requestID := field(data, cards.DataRequestID)
	var req *access.Request
	var err error
	if verb == cards.VerbAcknowledge {
		req, err = b.cfg.Service.Acknowledge(ctx, access.ReviewInput{
			TenantID: tenantOf(act), RequestID: requestID, Who: personOf(act), Note: field(data, cards.InputReviewNote),
			ConversationID: act.Conversation.ID, ActivityID: act.ReplyToID,
		})
	} else {
		req, err = b.cfg.Service.RevokeNow(ctx, access.EndInput{
			TenantID: tenantOf(act), RequestID: requestID, Who: personOf(act), Reason: field(data, cards.InputRevokeReason),
			ConversationID: act.Conversation.ID, ActivityID: act.ReplyToID,
		})
	}
	note := ""
	if err != nil {
		var r *access.Refusal
		if !errors.As(err, &r) || errors.Is(err, access.ErrWrongTenant) {
			return cards.MessageResponse(b.userError(err))
		}
		note, req = r.Reason, r.Request
		if req == nil {
			cur, lerr := b.cfg.Service.Request(ctx, tenantOf(act), requestID)
			if errors.Is(lerr, access.ErrNotFound) {
				return cards.InvokeResponse(cards.NotFound(requestID))
			}
			if lerr != nil {
				return cards.MessageResponse(r.Reason)
			}
			req = cur
		}
		if !inReviewChannel(act, req) {
			// A refused click from outside the security channel (a crafted
			// action naming the request) learns nothing of it: the answer
			// is an unknown request's.
			b.log.Warn("review card action refused outside the security channel; answered as not found",
				"request", req.ID, "from", act.From.AadObjectID, "conversation", act.Conversation.ID)
			return cards.InvokeResponse(cards.NotFound(requestID))
		}
	}
	if req.Grant == nil || !req.Grant.BreakGlass {
		return cards.MessageResponse(note)
	}
	return cards.InvokeResponse(cards.Review(req, cards.ReviewOptions{Names: b.cfg.Names.forRequests(ctx, req), Note: note}))
}

// inReviewChannel reports whether act comes from the channel of req's
// break-glass review card.
func inReviewChannel(act *schema.Activity, req *access.Request) bool {
	if req.Grant == nil {
		return false
	}
	from, card := channelOfConversation(act.Conversation.ID), channelOfConversation(req.Grant.ReviewChat.ConversationID)
	return from != "" && strings.EqualFold(from, card)
}
