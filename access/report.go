package access

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits and defaults of audit reports.
const (
	// DefaultReportPeriod is the period of `audit` without one: 7 days.
	DefaultReportPeriod = "7d"
	// MaxReportDays bounds a report's period.
	MaxReportDays = 366
	// ReportTop is how many requesters and approvers a report ranks.
	ReportTop = 5
	// DownloadLinkTTL is how long a report's download link may be used.
	DownloadLinkTTL = 10 * time.Minute
)

// ReportInput is an `audit` command: who asks, for which period and
// (optionally) which profile.
type ReportInput struct {
	TenantID string
	Who      Person
	// Period is "7d", "30d" (any number of days up to MaxReportDays,
	// ending now) or "2026-11-01..2026-11-30" (UTC days, both included);
	// empty means DefaultReportPeriod.
	Period  string
	Profile string
	// Private is set when the asker wrote in their personal chat with the
	// bot: a report, and its download link, are shown there only.
	Private bool
	// ConversationID and ActivityID locate the asking message, for the audit.
	ConversationID string
	ActivityID     string
}

// Report is the summary of a period that an audit reader sees in Teams.
type Report struct {
	Since, Until time.Time
	Profile      string // "" for every profile
	// Requests counts the requests made in the period; the others count
	// them by outcome (Grants: approved, whatever happened next).
	Requests, Grants, Denials, Closed, Pending, Failed int
	// Cancelled counts the requests their requester cancelled, TimedOut
	// those no approver decided in time.
	Cancelled, TimedOut int
	// Extensions counts the approved extension requests (their time went
	// to the grant they extend; they are not counted as grants);
	// SelfExtensions counts the extensions requesters applied themselves,
	// within self_extend_max, in the period (grant.extended events by the
	// grant's requester).
	Extensions, SelfExtensions int
	// AutoApproved counts the requests jitbot approved at once under an
	// auto_approve rule, ForceApproved those an admin force-approved (both
	// also counted as grants).
	AutoApproved, ForceApproved int
	// BreakGlass counts the break-glass grants of the period's requests.
	BreakGlass BreakGlassCounts
	// ApprovalRate is Grants / (Grants + Denials), NaN when none was
	// decided by a person.
	ApprovalRate float64
	// Decisions is the time to decision per profile, by profile name.
	Decisions []DecisionTimes
	// Accesses counts the grants that ended (with their membership held
	// for a while); MedianAccess and LongestAccess are over those.
	Accesses      int
	MedianAccess  time.Duration
	LongestAccess time.Duration
	TopRequesters []PersonCount
	TopApprovers  []PersonCount
	// Irrevocable counts grants that became irrevocable in the period
	// (grant.irrevocable events); Drift counts unexplained members found.
	Irrevocable int
	Drift       int
	Feedback    FeedbackCounts
	// Link is the report's CSV download, for the reader who asked.
	Link DownloadLink
}

// BreakGlassCounts counts break-glass grants by what their review came
// to: Reviewed (acknowledged or revoked by the security team),
// RevokedUnreviewed (revoked by jitbot at the review deadline) and
// Unreviewed (neither, yet or for good).
type BreakGlassCounts struct {
	Grants, Reviewed, RevokedUnreviewed, Unreviewed int
}

func (b *BreakGlassCounts) add(g *Grant) {
	b.Grants++
	switch {
	case !g.Review.At.IsZero():
		b.Reviewed++
	case g.Early.Kind == EndUnreviewed:
		b.RevokedUnreviewed++
	default:
		b.Unreviewed++
	}
}

// DecisionTimes is how long approvers of one profile took to decide.
type DecisionTimes struct {
	Profile     string
	Count       int
	Median, P90 time.Duration
}

// PersonCount is a person and how many requests they made or decided.
type PersonCount struct {
	Person Person
	Count  int
}

// FeedbackCounts counts the requesters' answers after their access ended.
type FeedbackCounts struct {
	Answers                           int
	UsefulYes, UsefulPartly, UsefulNo int
	FastEnough, NotFastEnough         int
	Comments                          int
}

// DownloadLink is what a signed download link carries: which export, for
// whom, until when. The bot signs it; the download endpoint checks the
// signature and hands it to RedeemDownload.
type DownloadLink struct {
	ID        string    `json:"id"`
	UserID    string    `json:"uid"`
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until"`
	Profile   string    `json:"profile,omitempty"`
	ExpiresAt time.Time `json:"exp"`
}

// Query is the requests a link's CSV holds.
func (l DownloadLink) Query() RequestQuery {
	return RequestQuery{Since: l.Since, Until: l.Until, Profile: l.Profile}
}

var daysPeriod = regexp.MustCompile(`^([0-9]{1,3})d$`)

// ParsePeriod reads a report period (see ReportInput.Period) at now into
// [since, until).
func ParsePeriod(period string, now time.Time) (since, until time.Time, err error) {
	p := strings.ToLower(strings.TrimSpace(period))
	if p == "" {
		p = DefaultReportPeriod
	}
	now = now.UTC()
	if m := daysPeriod.FindStringSubmatch(p); m != nil {
		n, _ := strconv.Atoi(m[1])
		if n < 1 || n > MaxReportDays {
			return time.Time{}, time.Time{}, refuse(ErrInvalidInput, "A report covers 1 to %d days; %s is not that.", MaxReportDays, Quote(period))
		}
		return now.AddDate(0, 0, -n), now, nil
	}
	from, to, ok := strings.Cut(p, "..")
	if ok {
		a, errA := time.Parse(time.DateOnly, from)
		b, errB := time.Parse(time.DateOnly, to)
		if errA == nil && errB == nil {
			until := b.AddDate(0, 0, 1)
			if !a.Before(until) || until.Sub(a) > MaxReportDays*24*time.Hour {
				return time.Time{}, time.Time{}, refuse(ErrInvalidInput, "%s: the first day must not be after the last, and a report covers at most %d days.", Quote(period), MaxReportDays)
			}
			return a, until, nil
		}
	}
	return time.Time{}, time.Time{}, refuse(ErrInvalidInput, "%s is not a period: write `7d`, `30d` or `2026-11-01..2026-11-30` (UTC days, both included).", Quote(period))
}

// auditReader reports whether the user is a transitive member of an audit
// reader group (none configured: nobody is).
func (s *Service) auditReader(ctx context.Context, userID string) (bool, error) {
	ok, err := s.inGroups(ctx, userID, s.cfg.AuditReaderGroups, false)
	if err != nil {
		return false, fmt.Errorf("check audit reader groups of %s: %w", userID, err)
	}
	return ok, nil
}

// auditEvent is an event about the audit trail itself (no request).
func auditEvent(at time.Time, who Person, action Action, profile, reason string) AuditEvent {
	return AuditEvent{At: at, Actor: who, Action: action, Profile: profile, TargetUserID: who.ObjectID, Reason: reason}
}

// AuditReport computes the report of a period for an audit reader, with a
// download link for them alone, and audits that they saw it. Anyone else
// is refused (ErrNotAuditReader), and the refusal is audited.
func (s *Service) AuditReport(ctx context.Context, in ReportInput) (*Report, error) {
	if err := s.checkCaller(in.TenantID, in.Who); err != nil {
		return nil, err
	}
	ok, err := s.auditReader(ctx, in.Who.ObjectID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Clock.Now().UTC()
	if !ok {
		r := refuse(ErrNotAuditReader, "Audit reports are for the security and compliance teams; you are not in an audit reader group, so I cannot show you one. Ask your security team if you need one.")
		ev := auditEvent(now, in.Who, ActionReportRefused, in.Profile, "not in an audit reader group")
		ev.ConversationID, ev.ActivityID = in.ConversationID, in.ActivityID
		if err := s.cfg.Store.AppendAudit(ctx, ev); err != nil {
			s.log.Warn("audit refused report", "by", in.Who.ObjectID, "err", err)
		}
		return nil, r
	}
	if !in.Private {
		return nil, refuse(ErrNotPrivate, "Audit reports are for you alone: send `audit` in your personal chat with me.")
	}
	since, until, err := ParsePeriod(in.Period, now)
	if err != nil {
		return nil, err
	}
	rep, err := s.report(ctx, since, until, in.Profile)
	if err != nil {
		return nil, err
	}
	rep.Link = DownloadLink{ID: s.cfg.NewID(), UserID: in.Who.ObjectID, Since: since, Until: until, Profile: in.Profile, ExpiresAt: now.Add(DownloadLinkTTL)}
	ev := auditEvent(now, in.Who, ActionReportViewed, in.Profile, fmt.Sprintf("report %s..%s; download link %s", since.Format(time.RFC3339), until.Format(time.RFC3339), rep.Link.ID))
	ev.ConversationID, ev.ActivityID = in.ConversationID, in.ActivityID
	if err := s.cfg.Store.AppendAudit(ctx, ev); err != nil {
		// A report that cannot be audited is not shown.
		return nil, fmt.Errorf("audit report viewed by %s: %w", in.Who.ObjectID, err)
	}
	return rep, nil
}

// report computes the statistics of [since, until) for one profile or all.
func (s *Service) report(ctx context.Context, since, until time.Time, profile string) (*Report, error) {
	rep := &Report{Since: since, Until: until, Profile: profile}
	decisions := map[string][]time.Duration{}
	var accesses []time.Duration
	requesters, approvers := map[string]*PersonCount{}, map[string]*PersonCount{}
	count := func(m map[string]*PersonCount, p Person) {
		k := strings.ToLower(p.ObjectID)
		if m[k] == nil {
			m[k] = &PersonCount{Person: p}
		}
		m[k].Count++
	}
	err := s.cfg.Store.EachRequest(ctx, RequestQuery{Since: since, Until: until, Profile: profile}, func(r Request) error {
		g := NewGrantRecord(r)
		rep.Requests++
		count(requesters, g.Requester)
		switch g.Outcome {
		case OutcomePending:
			rep.Pending++
		case OutcomeDenied:
			rep.Denials++
		case OutcomeClosed:
			rep.Closed++
		case OutcomeCancelled:
			rep.Cancelled++
		case OutcomeTimedOut:
			rep.TimedOut++
		case OutcomeExtended:
			rep.Extensions++
		default:
			rep.Grants++
			if g.Outcome == OutcomeFailed {
				rep.Failed++
			}
		}
		if g.Outcome != OutcomeClosed && !g.DecidedAt.IsZero() {
			decisions[g.Profile] = append(decisions[g.Profile], g.TimeToDecision)
			for _, d := range r.Decisions {
				if d.Verdict != Withdrawn {
					count(approvers, d.Approver)
				}
			}
		}
		if !g.EndedAt.IsZero() && !g.GrantedAt.IsZero() {
			accesses = append(accesses, g.ActualDuration)
		}
		if f := g.Feedback; f != nil {
			rep.Feedback.add(f)
		}
		if r.Grant != nil && r.Grant.BreakGlass {
			rep.BreakGlass.add(r.Grant)
		}
		if AutoApproved(&r) {
			rep.AutoApproved++
		}
		if slices.ContainsFunc(r.Decisions, func(d Decision) bool { return d.Forced }) {
			rep.ForceApproved++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read requests for the report: %w", err)
	}
	rep.ApprovalRate = math.NaN()
	if n := rep.Grants + rep.Denials; n > 0 {
		rep.ApprovalRate = float64(rep.Grants) / float64(n)
	}
	for _, p := range slices.Sorted(maps.Keys(decisions)) {
		ds := decisions[p]
		slices.Sort(ds)
		rep.Decisions = append(rep.Decisions, DecisionTimes{Profile: p, Count: len(ds), Median: Percentile(ds, 50), P90: Percentile(ds, 90)})
	}
	slices.Sort(accesses)
	rep.Accesses = len(accesses)
	rep.MedianAccess = Percentile(accesses, 50)
	if len(accesses) > 0 {
		rep.LongestAccess = accesses[len(accesses)-1]
	}
	rep.TopRequesters, rep.TopApprovers = top(requesters), top(approvers)

	err = s.cfg.Store.EachAudit(ctx, AuditQuery{Since: since, Until: until, Profile: profile}, func(ev AuditEvent) error {
		switch ev.Action {
		case ActionIrrevocable:
			rep.Irrevocable++
		case ActionDriftFound:
			rep.Drift++
		case ActionExtended:
			if ev.TargetUserID != "" && strings.EqualFold(ev.Actor.ObjectID, ev.TargetUserID) {
				rep.SelfExtensions++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read audit events for the report: %w", err)
	}
	return rep, nil
}

func (f *FeedbackCounts) add(fb *Feedback) {
	f.Answers++
	switch fb.Useful {
	case UsefulYes:
		f.UsefulYes++
	case UsefulPartly:
		f.UsefulPartly++
	case UsefulNo:
		f.UsefulNo++
	}
	if fb.FastEnough {
		f.FastEnough++
	} else {
		f.NotFastEnough++
	}
	if strings.TrimSpace(fb.Comment) != "" {
		f.Comments++
	}
}

// top ranks people by count, then by name and id, and keeps ReportTop.
func top(m map[string]*PersonCount) []PersonCount {
	out := make([]PersonCount, 0, len(m))
	for _, pc := range m {
		out = append(out, *pc)
	}
	slices.SortFunc(out, func(a, b PersonCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Person.Name, b.Person.Name); c != 0 {
			return c
		}
		return cmp.Compare(a.Person.ObjectID, b.Person.ObjectID)
	})
	if len(out) > ReportTop {
		out = out[:ReportTop]
	}
	return out
}

// Percentile is the p-th percentile of sorted durations by the nearest-rank
// method (the smallest value with at least p% of the values at or below
// it; the median of 1, 2, 3, 4 is 2); 0 for none.
func Percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(float64(p) / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// EachGrantRecord streams the grants view of the requests q selects.
func (s *Service) EachGrantRecord(ctx context.Context, q RequestQuery, fn func(GrantRecord) error) error {
	return s.cfg.Store.EachRequest(ctx, q, func(r Request) error { return fn(NewGrantRecord(r)) })
}

// RedeemDownload admits one use of a download link whose signature was
// checked: the link has not expired, was not used before (recorded in the
// store, so across replicas), and its reader still is one. The use is
// audited as audit.downloaded. A link whose reader is no longer one is
// spent by the refusal, audited once as audit.download_refused. Expired
// and used links are refused without an audit event or a directory
// question: whoever holds one may replay it at will, and its one use or
// refusal is on record already.
func (s *Service) RedeemDownload(ctx context.Context, link DownloadLink) error {
	now := s.cfg.Clock.Now().UTC()
	who := Person{ObjectID: link.UserID}
	if link.ID == "" || !IsObjectID(link.UserID) {
		return refuse(ErrInvalidInput, "This download link is not valid.")
	}
	if !now.Before(link.ExpiresAt) {
		return refuse(ErrLinkExpired, "This download link has expired (links last %s). Send `audit` to the bot again for a new one.", FormatDuration(DownloadLinkTTL))
	}
	used := refuse(ErrLinkUsed, "This download link was used already; each link works once. Send `audit` to the bot again for a new one.")
	if spent, err := s.cfg.Store.DownloadUsed(ctx, link.ID); err != nil {
		return fmt.Errorf("look up download %s: %w", link.ID, err)
	} else if spent {
		return used
	}
	ok, err := s.auditReader(ctx, link.UserID)
	if err != nil {
		return err
	}
	if !ok {
		ev := auditEvent(now, who, ActionDownloadRefused, link.Profile, fmt.Sprintf("download link %s: not an audit reader", link.ID))
		if err := s.cfg.Store.RedeemDownload(ctx, link.ID, link.UserID, ev); err != nil && !errors.Is(err, ErrLinkUsed) {
			s.log.Warn("audit refused download", "link", link.ID, "err", err)
		}
		return refuse(ErrNotAuditReader, "The person this link was made for is no longer an audit reader.")
	}
	ev := auditEvent(now, who, ActionDownloaded, link.Profile, fmt.Sprintf("download link %s: requests %s..%s", link.ID, link.Since.UTC().Format(time.RFC3339), link.Until.UTC().Format(time.RFC3339)))
	err = s.cfg.Store.RedeemDownload(ctx, link.ID, link.UserID, ev)
	if errors.Is(err, ErrLinkUsed) {
		return used
	}
	if err != nil {
		return fmt.Errorf("record download %s: %w", link.ID, err)
	}
	return nil
}
