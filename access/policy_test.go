package access_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

func TestGrantRecordOfAQuorum(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	alex := access.Person{ObjectID: "22222222-2222-4222-8222-222222222222", Name: "Alex"}
	sam := access.Person{ObjectID: "33333333-3333-4333-8333-333333333333", Name: "Sam"}
	r := access.Request{
		ID: "r1", Profile: "prod-db", Severity: "sev3", State: access.RequestPending, CreatedAt: at,
		Decisions: []access.Decision{{Approver: alex, Verdict: access.Approve, DecidedAt: at.Add(time.Minute)}},
	}
	rec := access.NewGrantRecord(r)
	if rec.Severity != "sev3" || !rec.DecidedAt.IsZero() || rec.Outcome != access.OutcomePending || len(rec.Approvals) != 1 {
		t.Fatalf("pending with one of two approvals: %+v", rec)
	}
	r.State = access.RequestApproved
	r.Decisions = append(r.Decisions, access.Decision{Approver: sam, Verdict: access.Approve, DecidedAt: at.Add(5 * time.Minute)})
	rec = access.NewGrantRecord(r)
	if !rec.DecidedAt.Equal(at.Add(5*time.Minute)) || rec.TimeToDecision != 5*time.Minute || len(rec.Approvals) != 2 {
		t.Fatalf("decided by the second approval: decided %s after %s, %d approvals", rec.DecidedAt, rec.TimeToDecision, len(rec.Approvals))
	}
}

func TestProfileRules(t *testing.T) {
	p := access.Profile{
		Name: "prod-db", GroupID: "g", MaxDuration: 4 * time.Hour, ApproverGroups: []string{"a"}, ApproverChannelID: "c",
		RequiredApprovals: 2, Severities: []string{"sev1", "sev2"},
		SeverityRules: map[string]access.SeverityRule{"sev1": {MaxDuration: time.Hour, RequiredApprovals: 1}},
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if r := p.Rules("sev1"); r.MaxDuration != time.Hour || r.RequiredApprovals != 1 {
		t.Fatalf("sev1: %+v", r)
	}
	if r := p.Rules("sev2"); r.MaxDuration != 4*time.Hour || r.RequiredApprovals != 2 {
		t.Fatalf("sev2 keeps the profile's: %+v", r)
	}
	if r := (&access.Profile{MaxDuration: time.Hour}).Rules(""); r.RequiredApprovals != 1 {
		t.Fatalf("default quorum %d, want 1", r.RequiredApprovals)
	}
	demo := p
	demo.AllowSelfApproval = true
	if err := demo.Validate(); err == nil || !strings.Contains(err.Error(), "approvers.required") {
		t.Fatalf("self-approval with a quorum of 2: %v", err)
	}
}
