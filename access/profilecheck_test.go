package access_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

func TestProfileWarningsAreTheContradictions(t *testing.T) {
	const h, m = time.Hour, time.Minute
	cases := []struct {
		name string
		edit func(p *access.Profile)
		want []string // keys warned about, in order
	}{
		{"defaults", func(*access.Profile) {}, nil},
		{"remind_approvers at the default timeout", func(p *access.Profile) { p.RemindApprovers = h }, []string{"remind_approvers"}},
		{"remind_approvers just before the timeout", func(p *access.Profile) { p.RemindApprovers = 59 * m }, nil},
		{"remind_approvers past a set timeout", func(p *access.Profile) { p.ApprovalTimeout, p.RemindApprovers = 10*m, 15*m }, []string{"remind_approvers"}},
		{"remind_approvers off", func(p *access.Profile) { p.ApprovalTimeout, p.RemindApprovers = 10*m, 0 }, nil},
		{"remind_before the whole grant", func(p *access.Profile) { p.RemindBefore = 4 * h }, []string{"remind_before"}},
		{"remind_before shorter than the longest grant", func(p *access.Profile) { p.RemindBefore = 3*h + 59*m }, nil},
		{"self_extend_max covers every extension", func(p *access.Profile) { p.MaxTotalDuration, p.SelfExtendMax = 6*h, 5*h+45*m }, []string{"self_extend_max"}},
		{"self_extend_max leaves the longest to the approvers", func(p *access.Profile) { p.MaxTotalDuration, p.SelfExtendMax = 6*h, 5*h+44*m }, nil},
		{"self_extend_max with the default total", func(p *access.Profile) { p.SelfExtendMax = 4 * h }, []string{"self_extend_max"}},
		{"requester group approves", func(p *access.Profile) {
			p.ApproverGroups = append(p.ApproverGroups, strings.ToUpper(p.RequesterGroups[0]))
		}, []string{"approvers.groups"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := prodProfile()
			c.edit(&p)
			if err := p.Validate(); err != nil {
				t.Fatalf("the profile is not valid: %v", err)
			}
			var got []string
			for _, w := range p.Warnings() {
				got = append(got, w.Key)
				if w.Problem == "" || w.Fix == "" {
					t.Errorf("%s: problem %q, fix %q", w.Key, w.Problem, w.Fix)
				}
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("warnings %v, want %v: %+v", got, c.want, p.Warnings())
			}
		})
	}
}
