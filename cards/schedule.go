package cards

import (
	"github.com/jitbot/jitbot/access"
)

// The card parts of a scheduled start: the start as a fact (in each
// viewer's own time, with the requester's zone and UTC), how long after
// the request it comes, and the banner of a request approved ahead.

// startFact is the "Starts" fact of a scheduled request: the start in the
// viewer's own time, then as the requester gave it (their zone and UTC),
// and how long after the request was made it comes.
func startFact(req *access.Request) Fact {
	v := when(req.StartsAt) + " · requester's time " + oneLine(access.FormatStart(req), maxLine)
	if !req.CreatedAt.IsZero() {
		v += " · in " + access.FormatIn(req.StartsAt, req.CreatedAt) + " from the request"
	}
	return Fact{title: "Starts", value: v}
}

// withStart puts the "Starts" fact of a scheduled request after its
// "Duration" fact; any other request's facts are left as they are.
func withStart(req *access.Request, fs []Fact) []Fact {
	if !req.Scheduled() {
		return fs
	}
	for i, f := range fs {
		if f.title == "Duration" {
			return append(fs[:i+1], append([]Fact{startFact(req)}, fs[i+1:]...)...)
		}
	}
	return append(fs, startFact(req))
}

// scheduledBanner is the approval card's state of a request approved ahead
// of its start: approved, when it starts and ends, and that nothing is in
// the group yet.
func scheduledBanner(req *access.Request) Element {
	end := req.StartsAt.Add(req.Duration)
	items := []Element{stateLine("Approved: starts at "+when(req.StartsAt), "Good")}
	items = append(items, decidedBy("Approved", "", req.LastDecision(), "")...)
	items = append(items, subtle("Nothing is in the group yet: jitbot adds the membership at the start and removes it at "+when(end)+"."))
	return box("good", items...)
}

// revokedBeforeStart reports whether req, denied, was a scheduled request
// revoked before its start (approved ahead, then the revocation) rather
// than denied (also after an approval towards a quorum never complete).
func revokedBeforeStart(req *access.Request) bool {
	if !req.Scheduled() || !req.ApprovedAhead || req.State != access.RequestDenied || len(req.Decisions) < 2 {
		return false
	}
	prev := req.Decisions[len(req.Decisions)-2]
	return prev.Verdict == access.Approve
}

// missedStart reports whether req timed out after it was approved ahead:
// its whole window passed before jitbot could grant it.
func missedStart(req *access.Request) bool {
	d := req.LastDecision()
	return req.Scheduled() && req.ApprovedAhead && req.State == access.RequestTimedOut && d != nil && d.Verdict == access.Approve
}
