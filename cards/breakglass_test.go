package cards

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
)

// breakGlassRequest is an active grant made under break-glass by jitbot,
// its review due an hour after.
func breakGlassRequest() *access.Request {
	r := activeRequest()
	r.Decisions[0].Approver, r.Decisions[0].Reason = access.System, access.BreakGlassReason
	r.Grant.BreakGlass, r.Grant.ReviewBy = true, decidedAt.Add(time.Hour)
	return r
}

func reviewedRequest() *access.Request {
	r := breakGlassRequest()
	r.Grant.Review = access.Review{By: access.Person{ObjectID: "33333333-3333-4333-8333-333333333333", Name: "Sam Security"}, Note: "Checked INC-4711 <b>", At: decidedAt.Add(30 * time.Minute)}
	return r
}

func unreviewedRevoked() *access.Request {
	r := breakGlassRequest()
	r.State = access.RequestExpired
	r.Grant.State, r.Grant.RevokedAt = access.GrantRevoked, decidedAt.Add(time.Hour+time.Second)
	r.Grant.Early = access.EarlyEnd{Kind: access.EndUnreviewed, By: access.System, Reason: "not reviewed within 1h", At: decidedAt.Add(time.Hour)}
	return r
}

func breakGlassGoldens() map[string]Card {
	prod := profileProdDB()
	return map[string]Card{
		"approval_break_glass":          Approval(breakGlassRequest(), prod, refreshUsers),
		"approval_break_glass_reviewed": Approval(reviewedRequest(), prod, refreshUsers),
		"review_pending":                Review(breakGlassRequest(), ReviewOptions{}),
		"submitted_break_glass":         Submitted(breakGlassRequest(), nil),
		"profiles_break_glass":          Profiles([]access.Profile{breakGlassProfile()}),
		"review_reviewed":               Review(reviewedRequest(), ReviewOptions{}),
		"review_revoked_unreviewed":     Review(unreviewedRevoked(), ReviewOptions{Note: "Only the security team can review break-glass access."}),
	}
}

// The review card has Acknowledge (with its optional note) while
// unreviewed (also once the grant ended: the review is still owed) and
// Revoke now while active, marked as on the review card.
func TestReviewCardButtons(t *testing.T) {
	verbs := func(c Card) []string {
		var out []string
		for _, a := range c.Actions {
			e := a.(executeAction)
			out = append(out, e.Verb+"/"+e.Data[DataCard])
		}
		return out
	}
	if got := strings.Join(verbs(Review(breakGlassRequest(), ReviewOptions{})), " "); got != VerbAcknowledge+"/ "+VerbRevokeNow+"/"+CardReview {
		t.Fatalf("pending review: %s", got)
	}
	if got := strings.Join(verbs(Review(reviewedRequest(), ReviewOptions{})), " "); got != VerbRevokeNow+"/"+CardReview {
		t.Fatalf("reviewed: %s", got)
	}
	// Revoked unreviewed: the review is still owed, after the fact.
	if got := strings.Join(verbs(Review(unreviewedRevoked(), ReviewOptions{})), " "); got != VerbAcknowledge+"/" {
		t.Fatalf("revoked: %s", got)
	}
}

func breakGlassProfile() access.Profile {
	p := profileProdDB()
	p.Name, p.BreakGlass, p.ReviewWithin, p.RevokeIfUnreviewed = "prod-db-breakglass", true, 30*time.Minute, true
	return p
}

// The profiles card says which profile is break-glass and how it is
// reviewed; the others say nothing of it.
func TestProfilesCardShowsBreakGlass(t *testing.T) {
	c := string(render(t, Profiles([]access.Profile{profileProdDB(), breakGlassProfile()})))
	if strings.Count(c, "Break-glass: granted at once") != 1 || !strings.Contains(c, "within 30m. Unreviewed by then, it is revoked.") {
		t.Fatalf("profiles card: %s", c)
	}
}
