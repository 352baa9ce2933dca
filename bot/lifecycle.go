package bot

import (
	"context"
	"fmt"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/access"
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
		text += fmt.Sprintf(" Without one it expires at %s.", req.DecideBy.UTC().Format(time.RFC3339))
	}
	act := &schema.Activity{Type: schema.Message, Text: text}
	if _, err := n.Connector.SendActivity(ctx, n.serviceURL(chat), chat.ConversationID, act); err != nil {
		return fmt.Errorf("remind approvers of %s: %w", req.ID, err)
	}
	return nil
}
