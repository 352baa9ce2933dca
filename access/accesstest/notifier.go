package accesstest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jitbot/jitbot/access"
)

// Notifier records what the service would have posted to Teams.
type Notifier struct {
	mu      sync.Mutex
	notices map[string][]access.Notice // by request id
	cards   map[string][]access.RequestState
	// FailPost makes PostApprovalCard fail.
	FailPost bool
	n        int
	alerts   []access.Alert
	// reminders are the reminder numbers sent, by request id.
	reminders map[string][]int
	// reviews are the break-glass review cards posted and updated;
	// reviewReminders the review reminder numbers sent, by request id.
	reviews         []ReviewCard
	reviewReminders map[string][]int
}

// PostAlert records a security alert.
func (n *Notifier) PostAlert(_ context.Context, a access.Alert, channelID string) (access.ConversationRef, string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.n++
	n.alerts = append(n.alerts, a)
	return access.ConversationRef{ConversationID: channelID + ";messageid=" + fmt.Sprint(n.n)}, fmt.Sprint(n.n), nil
}

// UpdateAlert records the alert's new state.
func (n *Notifier) UpdateAlert(_ context.Context, a access.Alert, _ access.ConversationRef, _ string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.alerts = append(n.alerts, a)
	return nil
}

// Alerts returns every alert posted or updated, in order.
func (n *Notifier) Alerts() []access.Alert {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]access.Alert(nil), n.alerts...)
}

// NewNotifier returns an empty recording notifier.
func NewNotifier() *Notifier {
	return &Notifier{notices: map[string][]access.Notice{}, cards: map[string][]access.RequestState{}}
}

// PostApprovalCard records the card and returns a made-up location.
func (n *Notifier) PostApprovalCard(_ context.Context, req *access.Request, channelID string) (access.ConversationRef, string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.FailPost {
		return access.ConversationRef{}, "", errors.New("approvers channel unreachable")
	}
	n.n++
	n.cards[req.ID] = append(n.cards[req.ID], req.State)
	return access.ConversationRef{ConversationID: channelID + ";messageid=" + fmt.Sprint(n.n)}, fmt.Sprint(n.n), nil
}

// UpdateApprovalCard records the card's new state.
func (n *Notifier) UpdateApprovalCard(_ context.Context, req *access.Request) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cards[req.ID] = append(n.cards[req.ID], req.State)
	return nil
}

// NotifyRequester records the notice.
func (n *Notifier) NotifyRequester(_ context.Context, req *access.Request, msg access.Notice) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.notices[req.ID] = append(n.notices[req.ID], msg)
	return nil
}

// Notices returns the kinds of notice sent for a request, in order.
func (n *Notifier) Notices(requestID string) []access.NoticeKind {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []access.NoticeKind
	for _, m := range n.notices[requestID] {
		out = append(out, m.Kind)
	}
	return out
}

// CardStates returns the states the approval card was shown in, in order.
func (n *Notifier) CardStates(requestID string) []access.RequestState {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]access.RequestState(nil), n.cards[requestID]...)
}

// Texts returns the texts of the notices sent for a request, in order.
func (n *Notifier) Texts(requestID string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, m := range n.notices[requestID] {
		out = append(out, m.Text)
	}
	return out
}

// Sent returns the notices sent for a request, in order.
func (n *Notifier) Sent(requestID string) []access.Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]access.Notice(nil), n.notices[requestID]...)
}

// RemindApprovers records a reminder to the approvers' thread.
func (n *Notifier) RemindApprovers(_ context.Context, req *access.Request, num int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.reminders == nil {
		n.reminders = map[string][]int{}
	}
	n.reminders[req.ID] = append(n.reminders[req.ID], num)
	return nil
}

// Reminders returns the numbers of the reminders sent for a request, in
// order.
func (n *Notifier) Reminders(requestID string) []int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]int(nil), n.reminders[requestID]...)
}
