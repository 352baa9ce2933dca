package access

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Scheduled start. A request may ask for access from a later time ("2h at
// 22:00"): it is decided ahead like any other (quorum, severity, step-up,
// escalation, the approval deadline all apply to the decision), then waits
// as RequestScheduled with nothing in the group. At StartsAt the scheduler
// stores its grant (intent first, under the membership lock, from the
// scheduled state: once across replicas and restarts) and the membership
// is added the durable way of every grant; it ends at StartsAt + Duration.
// Before the start the requester may cancel it and an approver may revoke
// it; nothing is added then.

// DefaultMaxStartAhead is how far ahead a request may ask its access to
// start when its profile sets no max_start_ahead: time enough for
// "tomorrow at 9:00" from any time today.
const DefaultMaxStartAhead = 48 * time.Hour

// MaxStartText bounds a start as written.
const MaxStartText = 40

// startBatch is how many due starts one look at the store takes.
const startBatch = 20

// StartAhead is how far ahead a request of the profile may start.
func (p *Profile) StartAhead() time.Duration {
	if p.MaxStartAhead > 0 {
		return p.MaxStartAhead
	}
	return DefaultMaxStartAhead
}

// ZoneUTC is the zone a start is read in when the requester's client sent
// none.
const ZoneUTC = "UTC"

// Zone returns the location of an IANA time zone name as a Teams client
// sends it (activity.localTimezone, "Europe/Berlin"), and its name; an
// empty, "Local" or unknown name gives UTC, so that what a start means
// never depends on the server's own zone.
func Zone(name string) (*time.Location, string) {
	name = strings.TrimSpace(name)
	if name == "" || strings.EqualFold(name, "Local") || strings.EqualFold(name, ZoneUTC) {
		return time.UTC, ZoneUTC
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC, ZoneUTC
	}
	return loc, name
}

// ParseStart reads when a request's access should start, as written after
// "at" or "from": a time of day ("22:00", "9:30", "9"), optionally after
// "today" or "tomorrow" ("tomorrow 9:00"), or a date and time
// ("2026-12-02 22:00", "2026-12-02T22:00", the request form's). The time
// is read in zone at now: a time of day already passed today (and not
// said to be today) means tomorrow; "tomorrow" is the next calendar day
// in that zone, so a change to or from daylight saving time in between
// keeps the wall clock time. "now" or "" is no start (zero). A start that
// is not in the future is zero too: the request is an ordinary one.
func ParseStart(text string, zone *time.Location, now time.Time) (time.Time, error) {
	if n := Length(text); n > MaxStartText {
		return time.Time{}, refuse(ErrInvalidInput, "The start is too long (%d characters); write it like `22:00` or `tomorrow 9:00`.", n)
	}
	words := strings.Fields(strings.ToLower(strings.TrimSpace(text)))
	if len(words) == 0 || len(words) == 1 && words[0] == "now" {
		return time.Time{}, nil
	}
	local := now.In(zone)
	bad := refuse(ErrInvalidInput, "%s is not a start time; write it like `at 22:00`, `at tomorrow 9:00` or `at 2026-12-02 22:00`.", Quote(text))
	if len(words) == 1 && strings.Contains(words[0], "t") && len(words[0]) > 10 {
		words = strings.SplitN(words[0], "t", 2)
	}
	day, explicit := 0, false
	var date time.Time
	switch {
	case len(words) == 2 && (words[0] == "today" || words[0] == "tomorrow"):
		explicit = true
		if words[0] == "tomorrow" {
			day = 1
		}
		words = words[1:]
	case len(words) == 2:
		d, err := time.ParseInLocation("2006-01-02", words[0], zone)
		if err != nil {
			return time.Time{}, bad
		}
		date, explicit, words = d, true, words[1:]
	case len(words) != 1:
		return time.Time{}, bad
	}
	h, m, ok := clockTime(words[0])
	if !ok {
		return time.Time{}, bad
	}
	var at time.Time
	if !date.IsZero() {
		at = time.Date(date.Year(), date.Month(), date.Day(), h, m, 0, 0, zone)
	} else {
		at = time.Date(local.Year(), local.Month(), local.Day()+day, h, m, 0, 0, zone)
		if !explicit && !at.After(now) {
			at = time.Date(local.Year(), local.Month(), local.Day()+1, h, m, 0, 0, zone)
		}
	}
	if !at.After(now) {
		return time.Time{}, nil
	}
	return at.UTC(), nil
}

// clockTime reads "22:00", "9:30", "9" or "21h": hours 0-23, minutes 0-59.
func clockTime(s string) (h, m int, ok bool) {
	s = strings.TrimSuffix(s, "h")
	hs, ms, found := strings.Cut(s, ":")
	if !found {
		ms = "0"
	} else if len(ms) != 2 {
		return 0, 0, false
	}
	if len(hs) == 0 || len(hs) > 2 {
		return 0, 0, false
	}
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, 0, false
	}
	return h, m, true
}

// checkStart checks a start against the profile: a break-glass profile is
// for access now (its grant comes at once with no approver, and nobody
// reviews a grant that has not started), and the start may be at most
// StartAhead from now.
func checkStart(p Profile, start, now time.Time) error {
	if start.IsZero() {
		return nil
	}
	if p.BreakGlass {
		return refuse(ErrInvalidInput, "Profile %s is break-glass: it is for access now and cannot be scheduled. Ask without a start time when you need it, or request a profile with approvers for later.", p.Name)
	}
	if ahead := start.Sub(now); ahead > p.StartAhead() {
		return refuse(ErrInvalidInput, "Profile %s can be scheduled at most %s ahead (its max_start_ahead); %s is %s away. Ask again closer to the time.",
			p.Name, FormatDuration(p.StartAhead()), FormatTime(start), FormatDuration(ahead.Round(time.Minute)))
	}
	return nil
}

// FormatStart says a scheduled start for plain text: in the requester's
// zone and in UTC, "22:00 on 1 Dec 2026 Europe/Berlin (21:00 UTC)"; in UTC
// alone when that is their zone.
func FormatStart(req *Request) string {
	loc, name := Zone(req.StartZone)
	if name == ZoneUTC {
		return FormatTime(req.StartsAt)
	}
	return req.StartsAt.In(loc).Format("15:04 on 2 Jan 2006") + " " + name + " (" + req.StartsAt.UTC().Format("15:04 UTC") + ")"
}

// FormatIn says how long until t from now, rounded to the minute: "3h 10m",
// "45m", "less than a minute".
func FormatIn(t, now time.Time) string {
	d := t.Sub(now).Round(time.Minute)
	if d < time.Minute {
		return "less than a minute"
	}
	h, m := d/time.Hour, (d%time.Hour)/time.Minute
	switch {
	case h == 0:
		return fmt.Sprintf("%dm", m)
	case m == 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dh %dm", h, m)
}

// waitsForStart reports whether an approval of req at at leaves it
// scheduled: its start is still to come.
func waitsForStart(req *Request, at time.Time) bool {
	return req.Scheduled() && req.StartsAt.After(at)
}

// windowEnd is when a grant of req approved (or started) at approvedAt
// ends: StartsAt + Duration for a scheduled request, however late it
// starts; approvedAt + Duration otherwise.
func windowEnd(req *Request, approvedAt time.Time) time.Time {
	if req.Scheduled() {
		return req.StartsAt.Add(req.Duration)
	}
	return approvedAt.Add(req.Duration)
}

// accessText says, for a notice, the time an approved request grants:
// "Access from <start> until <end>." or "Access until <end>.".
func accessText(req *Request, end time.Time, now time.Time) string {
	if waitsForStart(req, now) {
		return fmt.Sprintf("Access from %s until %s; nothing is granted before then.", FormatStart(req), FormatTime(end))
	}
	return fmt.Sprintf("Access until %s.", FormatTime(end))
}

// StartScheduled stores the grant of scheduled request id at its start, in
// one transaction with the membership locked: the request moves from
// scheduled to approved (or active when another grant holds the
// membership already, and the grant is shared, as RecordApproval does),
// grant is stored claimed by owner until claimUntil, and ev appended. A
// request no longer scheduled (started by another replica, cancelled,
// revoked) gives ErrNotPending and no change.
func StartScheduled(ctx context.Context, st Store, id string, grant *Grant, owner string, claimUntil time.Time, ev AuditEvent) (*Request, error) {
	at := grant.ApprovedAt
	switch {
	case grant.ID == "" || grant.ExpiresAt.IsZero() || at.IsZero():
		return nil, fmt.Errorf("start request %s: grant needs an id, an approval time and an end", id)
	case owner == "" || claimUntil.IsZero():
		return nil, fmt.Errorf("start request %s: no owner or claim end", id)
	}
	if ev.At.IsZero() {
		ev.At = at
	}
	if ev.RequestID == "" {
		ev.RequestID = id
	}
	req, err := st.GetRequest(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("start request %s: %w", id, err)
	}
	if req.State != RequestScheduled {
		return nil, fmt.Errorf("start request %s: %w", id, ErrNotPending)
	}
	g := newGrant(grant, req, at, owner, claimUntil)
	err = st.WithMembership(ctx, g.GroupID, g.User.ObjectID, at, func(m *Membership, tx MembershipTx) error {
		g := g
		state := RequestApproved
		if approvalShares(m) {
			g.Shared, g.State, g.GrantedAt = true, GrantActive, at
			g.ClaimedBy, g.ClaimUntil = "", time.Time{}
			state = RequestActive
		}
		if err := tx.Start(id, state, at); err != nil {
			return err
		}
		if err := tx.InsertGrant(g); err != nil {
			return err
		}
		return tx.Append(ev)
	})
	if err != nil {
		return nil, fmt.Errorf("start request %s: %w", id, err)
	}
	out, err := st.GetRequest(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("start request %s: reload: %w", id, err)
	}
	return out, nil
}

// WorkStarts grants the scheduled requests whose start has come. Several
// replicas may run it at once: each start is a conditional move from the
// scheduled state that one of them wins (StartScheduled), and only the
// winner adds the member and tells anyone. A start that fails (the
// directory or the store did not answer) is logged and left for the next
// look; the others due go on. It returns how many it started or closed,
// and the first failure.
func (s *Service) WorkStarts(ctx context.Context) (int, error) {
	done := 0
	var failed error
	for range pendingRounds {
		if ctx.Err() != nil {
			return done, failed
		}
		now := s.cfg.Clock.Now().UTC()
		due, err := s.cfg.Store.DueStarts(ctx, now, startBatch)
		if err != nil {
			return done, errors.Join(failed, fmt.Errorf("find due starts: %w", err))
		}
		if len(due) == 0 {
			return done, failed
		}
		progress := 0
		for i := range due {
			if ctx.Err() != nil {
				return done, failed
			}
			// The start in hand is finished even when shutdown begins,
			// as Work finishes the grant in hand.
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), workTimeout)
			acted, err := s.start(wctx, &due[i])
			cancel()
			if err != nil {
				s.log.Error("scheduled start failed; tried again at the next look", "request", due[i].ID, "err", err)
				if failed == nil {
					failed = fmt.Errorf("start request %s: %w", due[i].ID, err)
				}
				continue
			}
			if acted {
				done++
				progress++
			}
		}
		if progress == 0 || len(due) < startBatch {
			// Nothing more is due, or only what failed or another
			// replica took.
			return done, failed
		}
	}
	return done, failed
}

// start grants one scheduled request whose start has come, checked against
// its profile as it is now (as an approval is): one that no longer fits is
// closed by jitbot with the reason, and one whose whole window passed
// while no replica ran is closed as missed; nothing is added for either.
// It reports false when another replica started or closed it first.
func (s *Service) start(ctx context.Context, req *Request) (bool, error) {
	now := s.cfg.Clock.Now().UTC()
	end := req.StartsAt.Add(req.Duration)
	if !end.After(now) {
		ev := s.event(now, System, ActionStartMissed, req, "the window "+FormatTime(req.StartsAt)+" to "+FormatTime(end)+" passed before jitbot could grant it")
		updated, err := s.cfg.Store.CloseScheduled(ctx, req.ID, RequestTimedOut, nil, now, ev)
		if errors.Is(err, ErrNotPending) || errors.Is(err, ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("close missed start of %s: %w", req.ID, err)
		}
		s.updateCard(ctx, updated)
		s.notify(ctx, updated, NoticeTimedOut, fmt.Sprintf("Your access to %s was approved from %s until %s, but jitbot was not running during that time, so nothing was granted. Ask again if you still need access.",
			req.Profile, FormatStart(req), FormatTime(end)))
		return true, nil
	}
	p, ok := s.profiles[req.Profile]
	why := ""
	if !ok {
		why = fmt.Sprintf("profile %s is no longer configured", req.Profile)
	} else {
		w, err := s.stillValid(ctx, p, req)
		if err != nil {
			return false, err
		}
		why = w
		if why == "" && AutoApproved(req) {
			if why, err = s.autoApprovalLapsed(ctx, p, req); err != nil {
				return false, err
			}
		}
		if why == "" {
			if why, err = s.approversLapsed(ctx, p, req); err != nil {
				return false, err
			}
		}
	}
	if why != "" {
		d := Decision{Approver: System, Verdict: Deny, Reason: "No longer valid at its start: " + why + ".", DecidedAt: now}
		updated, err := s.cfg.Store.CloseScheduled(ctx, req.ID, RequestDenied, &d, now, s.event(now, System, ActionInvalidated, req, why))
		if errors.Is(err, ErrNotPending) || errors.Is(err, ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("close scheduled request %s: %w", req.ID, err)
		}
		s.updateCard(ctx, updated)
		s.notify(ctx, updated, NoticeClosed, fmt.Sprintf("Your scheduled access to %s was closed at its start: %s. Nothing was granted; ask again if you still need access.", req.Profile, why))
		return true, nil
	}
	g := s.newApprovalGrant(p, req, now)
	ev := s.event(now, System, ActionStarted, req, "scheduled start "+FormatTime(req.StartsAt)+"; access until "+FormatTime(g.ExpiresAt))
	updated, err := StartScheduled(ctx, s.cfg.Store, req.ID, g, s.cfg.Owner, now.Add(s.cfg.Lease), ev)
	if errors.Is(err, ErrNotPending) || errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.log.Info("scheduled request started", "request", req.ID, "profile", req.Profile, "grant", g.ID)
	if _, err := s.startGrant(ctx, updated); err != nil {
		return true, err
	}
	return true, nil
}

// approversLapsed says why the approvals of a scheduled request no longer
// hold at its start, or "": an approval takes effect only then, so every
// person whose approval counted must still be allowed to give it (an
// approver still in the decider groups, an admin who force-approved still
// in an admin group). A directory that cannot say is an error (the start
// is tried again later; nothing is added meanwhile).
func (s *Service) approversLapsed(ctx context.Context, p Profile, req *Request) (string, error) {
	for _, d := range Approvals(req) {
		groups, role := deciderGroups(p, req), "an approver group of "+p.Name
		if d.Forced {
			groups, role = s.cfg.AdminGroups, "a jitbot admin group"
		}
		ok, err := s.inGroups(ctx, d.Approver.ObjectID, groups, false)
		if err != nil {
			return "", fmt.Errorf("check whether %s, who approved request %s, may still approve it: %w", d.Approver.ObjectID, req.ID, err)
		}
		if !ok {
			return fmt.Sprintf("it was approved by %s, who is no longer in %s", d.Approver.ObjectID, role), nil
		}
	}
	return "", nil
}
