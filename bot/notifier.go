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

// Connector is the part of the Bot Connector API the bot uses.
type Connector interface {
	SendActivity(ctx context.Context, serviceURL, conversationID string, act *schema.Activity) (string, error)
	ReplyToActivity(ctx context.Context, serviceURL, conversationID, replyToID string, act *schema.Activity) (string, error)
	UpdateActivity(ctx context.Context, serviceURL, conversationID, activityID string, act *schema.Activity) error
	CreateConversation(ctx context.Context, serviceURL string, params connector.ConversationParameters) (connector.ConversationResource, error)
}

// Notifier posts approval cards and requester notices through the Bot
// Connector. It implements access.Notifier.
type Notifier struct {
	Connector Connector
	// Profile looks up a profile for the approval card.
	Profile func(name string) (access.Profile, bool)
	// TenantID is the tenant conversations are opened in.
	TenantID string
	// BotID and BotName identify the bot when it opens a conversation.
	BotID, BotName string
	// ServiceURL is used for conversations the bot starts itself when no
	// activity has told it a better one.
	ServiceURL string
	// Names gives the display names of groups and users on the cards; nil
	// shows object ids.
	Names *Names
	// Audience finds the Teams ids whose clients ask for their own view of
	// an approval card; nil: the requester alone.
	Audience *Audience
}

var _ access.Notifier = (*Notifier)(nil)

func (n *Notifier) serviceURL(ref access.ConversationRef) string {
	if ref.ServiceURL != "" {
		return ref.ServiceURL
	}
	return n.ServiceURL
}

// approvalCard is the card posted in the approvers' channel, with the
// approvers' buttons (every click on it is checked) and its group's display
// name; serviceURL is where the channel's roster is read for the refresh's
// user ids.
func (n *Notifier) approvalCard(ctx context.Context, serviceURL string, req *access.Request) cards.Card {
	p, _ := n.Profile(req.Profile)
	return cards.Approval(req, p, cards.ApprovalOptions{
		GroupName:      groupName(ctx, n.Names, req, p),
		RefreshUserIDs: n.Audience.UserIDs(ctx, serviceURL, req, p),
	})
}

// groupName is the display name of the group req grants ("" when unknown).
func groupName(ctx context.Context, names *Names, req *access.Request, p access.Profile) string {
	groupID := req.GroupID
	if groupID == "" {
		groupID = p.GroupID
	}
	if groupID == "" {
		return ""
	}
	return names.For(ctx, []string{groupID}, nil).Name(groupID)
}

// PostApprovalCard opens a new thread in the approvers' channel with the card.
func (n *Notifier) PostApprovalCard(ctx context.Context, req *access.Request, channelID string) (access.ConversationRef, string, error) {
	svc := n.serviceURL(req.RequesterChat)
	first := &schema.Activity{
		Type:        schema.Message,
		Summary:     fmt.Sprintf("%s asks for %s", req.Requester.Name, req.Profile),
		Attachments: []schema.Attachment{attachment(n.approvalCard(ctx, svc, req))},
	}
	params := connector.ChannelThread(n.bot(), n.TenantID, channelID, first)
	res, err := n.Connector.CreateConversation(ctx, svc, params)
	if err != nil {
		return access.ConversationRef{}, "", fmt.Errorf("post approval card to %s: %w", channelID, err)
	}
	return n.threadRef(res, svc)
}

// UpdateApprovalCard replaces the approval card with the request's state,
// and its second card in the escalation channel when it was escalated.
func (n *Notifier) UpdateApprovalCard(ctx context.Context, req *access.Request) error {
	chat := req.ApprovalChat
	act := &schema.Activity{
		Type:        schema.Message,
		ID:          req.ApprovalActivityID,
		Attachments: []schema.Attachment{attachment(n.approvalCard(ctx, n.serviceURL(chat), req))},
	}
	err := n.Connector.UpdateActivity(ctx, n.serviceURL(chat), chat.ConversationID, req.ApprovalActivityID, act)
	if err != nil {
		err = fmt.Errorf("update approval card of %s: %w", req.ID, err)
	}
	return errors.Join(err, n.updateEscalationCard(ctx, req))
}

// NotifyRequester writes to the requester's personal chat, opening it first
// when the request was made elsewhere. Every notice is a card
// (cards.NoticeCard, with the group's display name), the notice's plain
// text its summary: what a notification and a client that shows no card
// say.
func (n *Notifier) NotifyRequester(ctx context.Context, req *access.Request, msg access.Notice) error {
	chat := req.RequesterChat
	summary := strings.TrimSpace(msg.Text)
	if summary == "" && req.Grant != nil {
		switch msg.Kind {
		case access.NoticeGranted:
			summary = cards.GrantedSummary(req)
		case access.NoticeExpiring:
			summary = cards.ExpiryReminderSummary(req)
		case access.NoticeExtended:
			summary = cards.ExtendedSummary(req)
		}
	}
	act := cardNotice(summary, cards.NoticeCard(req, msg, n.Names.forRequests(ctx, req)))
	if chat.ConversationID != "" {
		if _, err := n.Connector.SendActivity(ctx, n.serviceURL(chat), chat.ConversationID, act); err != nil {
			return fmt.Errorf("notify %s: %w", req.Requester.ObjectID, err)
		}
		return nil
	}
	if err := sendPersonal(ctx, n.Connector, n.serviceURL(chat), n.bot(), n.TenantID, chat.UserID, req.Requester.ObjectID, act); err != nil {
		return fmt.Errorf("notify %s: %w", req.Requester.ObjectID, err)
	}
	return nil
}

// cardNotice is a notice sent as a card, with summary as what a client that
// shows no card (and the notification) says.
func cardNotice(summary string, c cards.Card) *schema.Activity {
	return &schema.Activity{Type: schema.Message, Summary: summary, Attachments: []schema.Attachment{attachment(c)}}
}

func (n *Notifier) bot() schema.ChannelAccount {
	return schema.ChannelAccount{ID: n.BotID, Name: n.BotName}
}

// PostAlert opens a thread in the security channel with an alert card.
func (n *Notifier) PostAlert(ctx context.Context, a access.Alert, channelID string) (access.ConversationRef, string, error) {
	first := &schema.Activity{
		Type:        schema.Message,
		Summary:     fmt.Sprintf("jitbot alert: %s in group %s", a.Kind, a.GroupID),
		Attachments: []schema.Attachment{attachment(cards.Alert(a, n.Names.forAlert(ctx, a)))},
	}
	res, err := n.Connector.CreateConversation(ctx, n.ServiceURL, connector.ChannelThread(n.bot(), n.TenantID, channelID, first))
	if err != nil {
		return access.ConversationRef{}, "", fmt.Errorf("post alert to %s: %w", channelID, err)
	}
	return n.threadRef(res, n.ServiceURL)
}

// UpdateAlert replaces an alert card.
func (n *Notifier) UpdateAlert(ctx context.Context, a access.Alert, chat access.ConversationRef, activityID string) error {
	act := &schema.Activity{Type: schema.Message, ID: activityID, Attachments: []schema.Attachment{attachment(cards.Alert(a, n.Names.forAlert(ctx, a)))}}
	if err := n.Connector.UpdateActivity(ctx, n.serviceURL(chat), chat.ConversationID, activityID, act); err != nil {
		return fmt.Errorf("update alert of grant %s: %w", a.GrantID, err)
	}
	return nil
}

// threadRef is where a thread the bot opened in a channel landed.
func (n *Notifier) threadRef(res connector.ConversationResource, svc string) (access.ConversationRef, string, error) {
	activityID := res.ActivityID
	if activityID == "" {
		// A channel thread's id ends in ;messageid=<root activity id>.
		if i := strings.LastIndex(res.ID, ";messageid="); i >= 0 {
			activityID = res.ID[i+len(";messageid="):]
		}
	}
	ref := access.ConversationRef{
		ServiceURL: svc, ChannelID: TeamsChannelID, ConversationID: res.ID, TenantID: n.TenantID,
		BotID: n.BotID, BotName: n.BotName,
	}
	if res.ServiceURL != "" {
		ref.ServiceURL = res.ServiceURL
	}
	return ref, activityID, nil
}
