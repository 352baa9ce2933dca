package cards

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// profilePolicy is prod-db with the README's worked example of a policy.
func profilePolicy() access.Profile {
	p := profileProdDB()
	p.Severities = []string{"sev1", "sev2", "sev3"}
	p.SeverityRules = map[string]access.SeverityRule{
		"sev1": {MaxDuration: 2 * time.Hour, AutoApprove: &access.AutoApprove{Groups: []string{"0c2f6a1e-5b3d-4e8f-a1c2-7d9e3b4f5a99"}, MaxDuration: time.Hour}},
		"sev3": {RequiredApprovals: 2},
	}
	return p
}

func quorumRequest(approvals int) *access.Request {
	r := pendingRequest()
	r.Severity = "sev3"
	names := []string{"Alex Approver", "Sam Second"}
	at := []time.Time{requestedAt, decidedAt}
	for i := 0; i < approvals; i++ {
		r.Decisions = append(r.Decisions, access.Decision{
			Approver: access.Person{ObjectID: "a1b2c3d4-0000-4000-8000-00000000010" + string(rune('0'+i)), Name: names[i]},
			Verdict:  access.Approve, DecidedAt: at[i],
		})
	}
	return r
}

func autoApprovedRequest() *access.Request {
	r := pendingRequest()
	r.Severity, r.Duration, r.State = "sev1", 45*time.Minute, access.RequestActive
	p := profilePolicy()
	r.Decisions = []access.Decision{{Approver: access.System, Verdict: access.Approve, Reason: access.AutoApproveReason(p.SeverityRules["sev1"].AutoApprove, "0c2f6a1e-5b3d-4e8f-a1c2-7d9e3b4f5a99"), DecidedAt: requestedAt}}
	r = withGrant(r, access.GrantActive)
	r.Grant.GrantedAt = requestedAt
	return r
}

func policyGoldens() map[string]Card {
	p := profilePolicy()
	active := quorumRequest(2)
	active.State = access.RequestActive
	active = withGrant(active, access.GrantActive)
	active.Grant.GrantedAt = grantedAt
	return map[string]Card{
		"approval_quorum_pending": Approval(quorumRequest(0), p, ApprovalOptions{}),
		"approval_quorum_one":     Approval(quorumRequest(1), p, ApprovalOptions{}),
		"approval_quorum_met":     Approval(active, p, ApprovalOptions{}),
		"approval_auto_approved":  Approval(autoApprovedRequest(), p, ApprovalOptions{}),
		"form_severities":         RequestForm([]access.Profile{p, profileStaging()}, FormOptions{Severity: "sev2"}),
	}
}

func TestApprovalCardShowsThePolicy(t *testing.T) {
	p := profilePolicy()
	for name, c := range map[string]struct {
		req       *access.Request
		want, not []string
	}{
		"none yet":    {quorumRequest(0), []string{"Severity SEV3", "0 of 2 approvals", `"verb":"approve"`}, nil},
		"one of two":  {quorumRequest(1), []string{"1 of 2 approvals", "Alex Approver", `"verb":"approve"`}, []string{"Sam Second"}},
		"auto":        {autoApprovedRequest(), []string{"Severity SEV1", AutoApprovedLine, `"verb":"revokeNow"`}, []string{`"verb":"approve"`}},
		"no severity": {pendingRequest(), nil, []string{"Severity ", "approvals"}},
	} {
		raw, _ := json.Marshal(Approval(c.req, p, ApprovalOptions{}))
		j := string(raw)
		for _, w := range c.want {
			if !strings.Contains(j, w) {
				t.Errorf("%s: card lacks %q", name, w)
			}
		}
		for _, w := range c.not {
			if strings.Contains(j, w) {
				t.Errorf("%s: card shows %q", name, w)
			}
		}
	}
}
