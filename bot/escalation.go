package bot

import (
	"context"
	"fmt"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/access"
)

// updateEscalationCard replaces the second approval card of an escalated
// request, in the escalation channel, with the request's state.
func (n *Notifier) updateEscalationCard(ctx context.Context, req *access.Request) error {
	if req.EscalationActivityID == "" {
		return nil
	}
	chat := req.EscalationChat
	act := &schema.Activity{
		Type:        schema.Message,
		ID:          req.EscalationActivityID,
		Attachments: []schema.Attachment{attachment(n.approvalCard(ctx, n.serviceURL(chat), req))},
	}
	if err := n.Connector.UpdateActivity(ctx, n.serviceURL(chat), chat.ConversationID, req.EscalationActivityID, act); err != nil {
		return fmt.Errorf("update escalation card of %s: %w", req.ID, err)
	}
	return nil
}
