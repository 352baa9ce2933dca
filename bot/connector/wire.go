package connector

import (
	"encoding/json"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// wireActivityFields mirrors schema.Activity field for field (so a value
// converts with a plain type conversion, checked by the compiler) but tags
// every field omitzero: zero times and zero structs are left out, where
// schema.Activity's omitempty tags emit "0001-01-01T00:00:00Z" and {}.
// relatesTo is replaced by wireActivity.RelatesTo, whose nested accounts are
// also omitted when zero.
type wireActivityFields struct {
	Type             schema.ActivityTypes          `json:"type,omitzero"`
	ID               string                        `json:"id,omitzero"`
	Timestamp        time.Time                     `json:"timestamp,omitzero"`
	LocalTimestamp   time.Time                     `json:"localTimestamp,omitzero"`
	LocalTimezone    string                        `json:"localTimezone,omitzero"`
	CallerID         string                        `json:"callerId,omitzero"`
	ServiceURL       string                        `json:"serviceUrl,omitzero"`
	ChannelID        string                        `json:"channelId,omitzero"`
	From             schema.ChannelAccount         `json:"from,omitzero"`
	Conversation     schema.ConversationAccount    `json:"conversation,omitzero"`
	Recipient        schema.ChannelAccount         `json:"recipient,omitzero"`
	TextFormat       schema.TextFormatTypes        `json:"textFormat,omitzero"`
	AttachmentLayout schema.AttachmentLayoutTypes  `json:"attachmentLayout,omitzero"`
	MembersAdded     []schema.ChannelAccount       `json:"membersAdded,omitempty"`
	MembersRemoved   []schema.ChannelAccount       `json:"membersRemoved,omitempty"`
	ReactionsAdded   []schema.MessageReaction      `json:"reactionsAdded,omitempty"`
	ReactionsRemoved []schema.MessageReaction      `json:"reactionsRemoved,omitempty"`
	TopicName        string                        `json:"topicName,omitzero"`
	HistoryDisclosed bool                          `json:"historyDisclosed,omitzero"`
	Locale           string                        `json:"locale,omitzero"`
	Text             string                        `json:"text,omitzero"`
	Speak            string                        `json:"speak,omitzero"`
	InputHint        schema.InputHints             `json:"inputHint,omitzero"`
	Summary          string                        `json:"summary,omitzero"`
	SuggestedActions schema.SuggestedActions       `json:"suggestedActions,omitzero"`
	Attachments      []schema.Attachment           `json:"attachments,omitempty"`
	Entities         []schema.Entity               `json:"entities,omitempty"`
	ChannelData      map[string]interface{}        `json:"channelData,omitempty"`
	Action           string                        `json:"action,omitzero"`
	ReplyToID        string                        `json:"replyToId,omitzero"`
	Label            string                        `json:"label,omitzero"`
	ValueType        string                        `json:"valueType,omitzero"`
	Value            map[string]interface{}        `json:"value,omitempty"`
	Name             string                        `json:"name,omitzero"`
	RelatesTo        schema.ConversationReference  `json:"-"`
	Code             schema.EndOfConversationCodes `json:"code,omitzero"`
	Expiration       time.Time                     `json:"expiration,omitzero"`
	Importance       schema.ActivityImportance     `json:"importance,omitzero"`
	DeliveryMode     schema.DeliveryModes          `json:"deliveryMode,omitzero"`
	ListenFor        []string                      `json:"listenFor,omitempty"`
	TextHighlights   []schema.TextHighlight        `json:"textHighlights,omitempty"`
	SemanticAction   schema.SemanticAction         `json:"semanticAction,omitzero"`
}

// wireReference mirrors schema.ConversationReference with omitzero tags.
type wireReference struct {
	ActivityID   string                     `json:"activityId,omitzero"`
	User         schema.ChannelAccount      `json:"user,omitzero"`
	Bot          schema.ChannelAccount      `json:"bot,omitzero"`
	Conversation schema.ConversationAccount `json:"conversation,omitzero"`
	ChannelID    string                     `json:"channelId,omitzero"`
	ServiceURL   string                     `json:"serviceUrl,omitzero"`
}

type wireActivity struct {
	wireActivityFields
	RelatesTo wireReference `json:"relatesTo,omitzero"`
}

// trimActivity converts act to its wire form without zero values.
// Attachment content, channelData and value are passed through untouched.
func trimActivity(act *schema.Activity) *wireActivity {
	return &wireActivity{
		wireActivityFields: wireActivityFields(*act),
		RelatesTo:          wireReference(act.RelatesTo),
	}
}

// MarshalActivity encodes act as the Bot Connector expects it, omitting zero
// values. It is what every method of Client sends.
func MarshalActivity(act *schema.Activity) ([]byte, error) {
	return json.Marshal(trimActivity(act))
}

// wireConversationParameters is the body of POST /v3/conversations.
type wireConversationParameters struct {
	IsGroup     bool                    `json:"isGroup,omitzero"`
	Bot         schema.ChannelAccount   `json:"bot,omitzero"`
	Members     []schema.ChannelAccount `json:"members,omitempty"`
	TopicName   string                  `json:"topicName,omitzero"`
	TenantID    string                  `json:"tenantId,omitzero"`
	Activity    *wireActivity           `json:"activity,omitempty"`
	ChannelData map[string]any          `json:"channelData,omitempty"`
}
