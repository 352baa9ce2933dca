package storage

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/access"
)

func toRequestRow(r *access.Request) (requestRow, error) {
	requesterChat, err := marshalRef(r.RequesterChat)
	if err != nil {
		return requestRow{}, err
	}
	approvalChat, err := marshalRef(r.ApprovalChat)
	if err != nil {
		return requestRow{}, err
	}
	escalationChat, err := marshalRef(r.EscalationChat)
	if err != nil {
		return requestRow{}, err
	}
	return requestRow{
		ID:                   r.ID,
		RequesterID:          r.Requester.ObjectID,
		Profile:              r.Profile,
		State:                string(r.State),
		GroupID:              r.GroupID,
		RequesterName:        r.Requester.Name,
		DurationNS:           int64(r.Duration),
		Ticket:               r.Ticket,
		Justification:        r.Justification,
		SelfApproval:         r.SelfApproval,
		RequesterChat:        requesterChat,
		ApprovalChat:         approvalChat,
		ApprovalActivityID:   r.ApprovalActivityID,
		CreatedAt:            dbTime(r.CreatedAt),
		UpdatedAt:            dbTime(r.UpdatedAt),
		DecideBy:             optionalTime(r.DecideBy),
		Reminders:            int64(r.Reminders),
		NextReminderAt:       optionalTime(r.NextReminderAt),
		APIClientID:          r.Client.AppID,
		APIClientName:        r.Client.Name,
		ExtendsRequestID:     r.ExtendsRequestID,
		ExtendsFrom:          optionalTime(r.ExtendsFrom),
		EscalateAt:           optionalTime(r.EscalateAt),
		EscalatedAt:          optionalTime(r.EscalatedAt),
		EscalationChat:       escalationChat,
		EscalationActivityID: r.EscalationActivityID,
		Severity:             r.Severity,
		StartsAt:             optionalTime(r.StartsAt),
		StartZone:            r.StartZone,
		ApprovedAhead:        r.ApprovedAhead,
	}, nil
}

func fromRequestRow(row *requestRow) (access.Request, error) {
	requesterChat, err := unmarshalRef(row.RequesterChat)
	if err != nil {
		return access.Request{}, fmt.Errorf("request %s: requester chat: %w", row.ID, err)
	}
	approvalChat, err := unmarshalRef(row.ApprovalChat)
	if err != nil {
		return access.Request{}, fmt.Errorf("request %s: approval chat: %w", row.ID, err)
	}
	escalationChat, err := unmarshalRef(row.EscalationChat)
	if err != nil {
		return access.Request{}, fmt.Errorf("request %s: escalation chat: %w", row.ID, err)
	}
	return access.Request{
		ID:                   row.ID,
		Profile:              row.Profile,
		GroupID:              row.GroupID,
		Requester:            access.Person{ObjectID: row.RequesterID, Name: row.RequesterName},
		Duration:             time.Duration(row.DurationNS),
		Ticket:               row.Ticket,
		Justification:        row.Justification,
		State:                access.RequestState(row.State),
		CreatedAt:            row.CreatedAt.UTC(),
		UpdatedAt:            row.UpdatedAt.UTC(),
		SelfApproval:         row.SelfApproval,
		RequesterChat:        requesterChat,
		ApprovalChat:         approvalChat,
		ApprovalActivityID:   row.ApprovalActivityID,
		DecideBy:             fromOptionalTime(row.DecideBy),
		Reminders:            int(row.Reminders),
		NextReminderAt:       fromOptionalTime(row.NextReminderAt),
		Client:               access.APIClient{AppID: row.APIClientID, Name: row.APIClientName},
		ExtendsRequestID:     row.ExtendsRequestID,
		ExtendsFrom:          fromOptionalTime(row.ExtendsFrom),
		EscalateAt:           fromOptionalTime(row.EscalateAt),
		EscalatedAt:          fromOptionalTime(row.EscalatedAt),
		EscalationChat:       escalationChat,
		EscalationActivityID: row.EscalationActivityID,
		Severity:             row.Severity,
		StartsAt:             fromOptionalTime(row.StartsAt),
		StartZone:            row.StartZone,
		ApprovedAhead:        row.ApprovedAhead,
	}, nil
}

func fromDecisionRow(row *decisionRow) access.Decision {
	return access.Decision{
		Approver:  access.Person{ObjectID: row.ApproverID, Name: row.ApproverName},
		Verdict:   access.Verdict(row.Verdict),
		Reason:    row.Reason,
		DecidedAt: row.DecidedAt.UTC(),
		Forced:    row.Forced,
	}
}

func fromFeedbackRow(row *feedbackRow) access.Feedback {
	return access.Feedback{
		Useful:     access.FeedbackUseful(row.Useful),
		FastEnough: row.FastEnough,
		Comment:    row.Comment,
		At:         row.At.UTC(),
	}
}

func toGrantRow(g *access.Grant) (grantRow, error) {
	alertChat, err := marshalRef(g.AlertChat)
	if err != nil {
		return grantRow{}, fmt.Errorf("grant %s: alert chat: %w", g.ID, err)
	}
	reviewChat, err := marshalRef(g.ReviewChat)
	if err != nil {
		return grantRow{}, fmt.Errorf("grant %s: review chat: %w", g.ID, err)
	}
	return grantRow{
		ID:                 g.ID,
		RequestID:          g.RequestID,
		Profile:            g.Profile,
		GroupID:            g.GroupID,
		UserID:             g.User.ObjectID,
		UserName:           g.User.Name,
		State:              string(g.State),
		ApprovedAt:         dbTime(g.ApprovedAt),
		ExpiresAt:          dbTime(g.ExpiresAt),
		GrantedAt:          optionalTime(g.GrantedAt),
		Checked:            g.Checked,
		PreExisting:        g.PreExisting,
		Shared:             g.Shared,
		RevokedAt:          optionalTime(g.RevokedAt),
		DueAt:              dbTime(g.DueAt),
		Attempts:           int64(g.Attempts),
		LastError:          g.LastError,
		LastErrorPermanent: g.LastErrorPermanent,
		ClaimedBy:          g.ClaimedBy,
		ClaimUntil:         optionalTime(g.ClaimUntil),
		AlertChat:          alertChat,
		AlertActivityID:    g.AlertActivityID,
		EarlyKind:          string(g.Early.Kind),
		EarlyByID:          g.Early.By.ObjectID,
		EarlyByName:        g.Early.By.Name,
		EarlyReason:        g.Early.Reason,
		EarlyAt:            optionalTime(g.Early.At),
		RemindAt:           optionalTime(g.RemindAt),
		ExtendedByID:       g.Extended.By.ObjectID,
		ExtendedByName:     g.Extended.By.Name,
		ExtendedNS:         int64(g.Extended.Added),
		ExtendedReason:     g.Extended.Reason,
		ExtendedAt:         optionalTime(g.Extended.At),
		ExtendedCount:      int64(g.Extended.Count),
		BreakGlass:         g.BreakGlass,
		ReviewBy:           optionalTime(g.ReviewBy),
		ReviewDueAt:        optionalTime(g.ReviewDueAt),
		ReviewReminders:    int64(g.ReviewReminders),
		ReviewedByID:       g.Review.By.ObjectID,
		ReviewedByName:     g.Review.By.Name,
		ReviewNote:         g.Review.Note,
		ReviewedAt:         optionalTime(g.Review.At),
		ReviewChat:         reviewChat,
		ReviewActivityID:   g.ReviewActivityID,
	}, nil
}

func fromGrantRow(row *grantRow) (access.Grant, error) {
	alertChat, err := unmarshalRef(row.AlertChat)
	if err != nil {
		return access.Grant{}, fmt.Errorf("grant %s: alert chat: %w", row.ID, err)
	}
	reviewChat, err := unmarshalRef(row.ReviewChat)
	if err != nil {
		return access.Grant{}, fmt.Errorf("grant %s: review chat: %w", row.ID, err)
	}
	return access.Grant{
		ID:                 row.ID,
		RequestID:          row.RequestID,
		Profile:            row.Profile,
		GroupID:            row.GroupID,
		User:               access.Person{ObjectID: row.UserID, Name: row.UserName},
		State:              access.GrantState(row.State),
		ApprovedAt:         row.ApprovedAt.UTC(),
		ExpiresAt:          row.ExpiresAt.UTC(),
		GrantedAt:          fromOptionalTime(row.GrantedAt),
		Checked:            row.Checked,
		PreExisting:        row.PreExisting,
		Shared:             row.Shared,
		RevokedAt:          fromOptionalTime(row.RevokedAt),
		DueAt:              row.DueAt.UTC(),
		Attempts:           int(row.Attempts),
		LastError:          row.LastError,
		LastErrorPermanent: row.LastErrorPermanent,
		ClaimedBy:          row.ClaimedBy,
		ClaimUntil:         fromOptionalTime(row.ClaimUntil),
		AlertChat:          alertChat,
		AlertActivityID:    row.AlertActivityID,
		Early: access.EarlyEnd{
			Kind: access.EndKind(row.EarlyKind), By: access.Person{ObjectID: row.EarlyByID, Name: row.EarlyByName},
			Reason: row.EarlyReason, At: fromOptionalTime(row.EarlyAt),
		},
		RemindAt: fromOptionalTime(row.RemindAt),
		Extended: access.Extension{
			By: access.Person{ObjectID: row.ExtendedByID, Name: row.ExtendedByName}, Added: time.Duration(row.ExtendedNS),
			Reason: row.ExtendedReason, At: fromOptionalTime(row.ExtendedAt), Count: int(row.ExtendedCount),
		},
		BreakGlass:      row.BreakGlass,
		ReviewBy:        fromOptionalTime(row.ReviewBy),
		ReviewDueAt:     fromOptionalTime(row.ReviewDueAt),
		ReviewReminders: int(row.ReviewReminders),
		Review: access.Review{
			By: access.Person{ObjectID: row.ReviewedByID, Name: row.ReviewedByName}, Note: row.ReviewNote, At: fromOptionalTime(row.ReviewedAt),
		},
		ReviewChat:       reviewChat,
		ReviewActivityID: row.ReviewActivityID,
	}, nil
}

// fromGrantRows converts rows to grants, keeping their order.
func fromGrantRows(rows []grantRow) ([]access.Grant, error) {
	out := make([]access.Grant, len(rows))
	for i := range rows {
		g, err := fromGrantRow(&rows[i])
		if err != nil {
			return nil, err
		}
		out[i] = g
	}
	return out, nil
}

func toAuditRow(ev *access.AuditEvent) auditRow {
	return auditRow{
		Seq:            ev.Seq,
		PrevHash:       ev.PrevHash,
		Hash:           ev.Hash,
		At:             dbTime(ev.At),
		ActorID:        ev.Actor.ObjectID,
		ActorName:      ev.Actor.Name,
		Action:         string(ev.Action),
		RequestID:      ev.RequestID,
		Profile:        ev.Profile,
		GroupID:        ev.GroupID,
		TargetUserID:   ev.TargetUserID,
		Reason:         ev.Reason,
		ConversationID: ev.ConversationID,
		ActivityID:     ev.ActivityID,
	}
}

func fromAuditRow(row *auditRow) access.AuditEvent {
	return access.AuditEvent{
		ID:             row.ID,
		Seq:            row.Seq,
		PrevHash:       row.PrevHash,
		Hash:           row.Hash,
		At:             row.At.UTC(),
		Actor:          access.Person{ObjectID: row.ActorID, Name: row.ActorName},
		Action:         access.Action(row.Action),
		RequestID:      row.RequestID,
		Profile:        row.Profile,
		GroupID:        row.GroupID,
		TargetUserID:   row.TargetUserID,
		Reason:         row.Reason,
		ConversationID: row.ConversationID,
		ActivityID:     row.ActivityID,
	}
}

// marshalRef stores a conversation reference as JSON; the zero reference as
// the empty string.
func marshalRef(ref access.ConversationRef) (string, error) {
	if ref == (access.ConversationRef{}) {
		return "", nil
	}
	b, err := json.Marshal(ref)
	if err != nil {
		return "", fmt.Errorf("encode conversation reference: %w", err)
	}
	return string(b), nil
}

func unmarshalRef(s string) (access.ConversationRef, error) {
	var ref access.ConversationRef
	if s == "" {
		return ref, nil
	}
	if err := json.Unmarshal([]byte(s), &ref); err != nil {
		return ref, fmt.Errorf("decode conversation reference: %w", err)
	}
	return ref, nil
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := dbTime(t)
	return &u
}

func fromOptionalTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
