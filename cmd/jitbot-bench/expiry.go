package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/access/accesstest"
	"github.com/jitbot/jitbot/graph/graphtest"
	"github.com/jitbot/jitbot/storage"
)

// The expiry scenarios start a bot of their own on grants seeded before it
// starts (the scheduler reads the due grants at start-up).
var expiryScenarios = []string{"expiry", "restart", "trickle"}

func isExpiryScenario(s string) bool { return slices.Contains(expiryScenarios, s) }

// expiryLead is how long after seeding the grants of the expiry scenario
// fall due: time for the bot to start, so that it is running when they do.
// Seeding goes through the lifecycle functions, one transaction after
// another (4 to 9 ms a grant on SQLite here): the due time allows
// seedPerGrant for each.
const (
	expiryLead   = 5 * time.Second
	seedPerGrant = 10 * time.Millisecond
)

// trickleGrace is how long after the last due time of the trickle scenario
// the tool waits for the removals still missing (a removal that failed is
// tried again after revoke.backoff).
const trickleGrace = 30 * time.Second

// trickleGrants is how many grants the trickle scenario seeds: one every
// 1/rate seconds over the duration, at least one.
func trickleGrants(rate float64, d time.Duration) int {
	return max(1, int(rate*d.Seconds()))
}

// expiryResult is one expiry scenario's line of its table.
type expiryResult struct {
	Scenario string
	// Grants is the grants seeded, Due those falling due (all of them for
	// expiry; the overdue ones for restart).
	Grants, Due int
	// Ready is from the bot's start to its listening; Span from the due
	// time (restart: the bot's start; trickle: the first due time) to the
	// last removal.
	Ready, Span time.Duration
	// P50, P99 and Max are the lateness of the removals: from each
	// grant's due time (restart: the bot's start) to Graph receiving its
	// DELETE.
	P50, P99, Max time.Duration
	// HTTPCalls is the HTTP requests Graph received (a batch counts
	// once), Requests the requests inside them and alone, Batches the JSON
	// batches, Graph429 the requests answered 429.
	HTTPCalls, Requests, Batches, Graph429 int
	// Duplicates is the memberships removed by more than one DELETE Graph
	// carried out; Lost the due grants not revoked (membership still
	// there, or the grant not revoked in the database) at the end.
	Duplicates, Lost int
	// Told is how many requesters were told their access ended.
	Told    int
	CPU     time.Duration
	PeakRSS int64
	// Steal is the share of the machine's CPU time the hypervisor gave to
	// other machines while the removals were awaited.
	Steal float64
}

// runExpiry runs one expiry scenario with a bot of its own.
func runExpiry(ctx context.Context, o options, name string, log *slog.Logger) (expiryResult, error) {
	r := expiryResult{Scenario: name, Grants: o.grants}
	dir := o.workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "jitbot-bench-")
		if err != nil {
			return r, fmt.Errorf("work directory: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	dir = filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return r, fmt.Errorf("work directory: %w", err)
	}
	f, err := startFakes(dir, o.graph)
	if err != nil {
		return r, err
	}
	defer f.close()
	database := o.database
	if database == "" {
		// A database left by an earlier run in the same work directory
		// would hold its grants too.
		file := filepath.Join(dir, "jitbot.db")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(file + suffix); err != nil && !os.IsNotExist(err) {
				return r, fmt.Errorf("remove the database of an earlier run: %w", err)
			}
		}
		database = "sqlite:" + file
	}

	// Seed: every grant is a request approved and granted through the
	// lifecycle functions, its member in the fake Graph's group. The
	// trickle's grants fall due one every 1/rate seconds from due on.
	now := time.Now().UTC()
	grants := o.grants
	if name == "trickle" {
		grants = trickleGrants(o.trickleRate, o.duration)
		r.Grants = grants
	}
	due := now.Add(expiryLead + time.Duration(grants)*seedPerGrant).Truncate(time.Second).Add(time.Second)
	overdue := grants
	if name == "restart" {
		overdue = o.overdue
		due = now.Add(-time.Minute)
	}
	r.Due = overdue
	dueAt := func(i int) time.Time {
		switch {
		case i >= overdue:
			return now.Add(4 * time.Hour)
		case name == "trickle":
			return due.Add(time.Duration(float64(i) / o.trickleRate * float64(time.Second)))
		}
		return due
	}
	users := make([]string, grants)
	seedStart := time.Now()
	if err := seedGrants(ctx, f, database, users, dueAt); err != nil {
		return r, err
	}
	log.Info("grants seeded", "grants", grants, "due", overdue, "took", time.Since(seedStart).Round(time.Millisecond))
	if name != "restart" && time.Now().After(due.Add(-time.Second)) {
		// Seeding took longer than the lead: the grants are overdue when the
		// bot starts, which the restart scenario measures.
		log.Warn("seeding outlasted the lead; the grants are already due when the bot starts")
	}
	f.graph.ResetCalls()

	bin := o.bin
	if bin == "" {
		log.Info("building jitbot")
		if bin, err = buildBot(ctx, dir); err != nil {
			return r, err
		}
	}
	cfgFile := filepath.Join(dir, "jitbot.yaml")
	if err := os.WriteFile(cfgFile, []byte(f.config("127.0.0.1:0", database)+o.botConfig()), 0o600); err != nil {
		return r, fmt.Errorf("write config: %w", err)
	}
	started := time.Now()
	p, err := startBot(bin, cfgFile, filepath.Join(dir, "jitbot.log"), f.env(dir), o.botCPUs, o.cpuProfile, o.memProfile)
	if err != nil {
		return r, err
	}
	defer p.stop()
	r.Ready = time.Since(started)
	pid := p.cmd.Process.Pid
	startStats, err := readProc(pid)
	if err != nil {
		return r, fmt.Errorf("bot process: %w", err)
	}
	startMachine, machineErr := readMachine()
	// Each removal's lateness is counted from its grant's due time (restart:
	// from the bot's start).
	from := make(map[string]time.Time, overdue)
	for i, u := range users[:overdue] {
		from[u] = dueAt(i)
		if name == "restart" {
			from[u] = started
		}
	}

	// Wait until the due members are gone, or -duration is over (trickle:
	// trickleGrace after the last due time; a removal that failed is
	// tried again after revoke.backoff).
	deadline := time.Now().Add(o.duration)
	if name == "trickle" {
		deadline = dueAt(overdue - 1).Add(trickleGrace)
	}
	for {
		// One listing per look: asking for each due member would take the
		// fake Graph's lock as many times, with a search of the group
		// each, and hold up the removals the bot is making meanwhile.
		left := 0
		members := memberSet(f.graph)
		for _, u := range users[:overdue] {
			if members[strings.ToLower(u)] {
				left++
			}
		}
		if left == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if end, err := readProc(pid); err == nil {
		r.CPU, r.PeakRSS = end.cpu-startStats.cpu, end.peakRSS
	}
	if end, err := readMachine(); err == nil && machineErr == nil {
		r.Steal = stealShare(startMachine, end)
	}
	// The notices go out after the removals: give them a moment.
	time.Sleep(min(o.drain, 2*time.Second))
	countRemovals(f.graph, users[:overdue], from, &r)
	for _, u := range users[:overdue] {
		for _, a := range f.conn.Activities(personal(u)) {
			if strings.Contains(string(a.Raw), "has ended") {
				r.Told++
				break
			}
		}
	}
	p.stop()
	// The database's word on each due grant.
	live, err := liveGrantUsers(ctx, database)
	if err != nil {
		return r, err
	}
	members := memberSet(f.graph)
	for _, u := range users[:overdue] {
		if member := members[strings.ToLower(u)]; member || live[u] {
			r.Lost++
			if r.Lost <= 5 {
				var calls []string
				for _, c := range f.graph.Calls() {
					if strings.EqualFold(c.ObjectID, u) {
						calls = append(calls, fmt.Sprintf("%s %d %s %s", c.Route, c.Status, c.BatchID, c.At.Format("15:04:05.000")))
					}
				}
				log.Warn("grant not revoked", "user", u, "member", member, "live", live[u], "graph calls", calls)
			}
		}
	}
	return r, nil
}

// memberSet returns the members of the profile's group in the fake Graph,
// lower-cased.
func memberSet(g *graphtest.Graph) map[string]bool {
	ms := g.Members(groupID)
	set := make(map[string]bool, len(ms))
	for _, m := range ms {
		set[strings.ToLower(m)] = true
	}
	return set
}

// seedGrants stores an active grant for each of len(users) new users, the
// i-th ending at ends(i), and makes them members of the profile's group in
// the fake Graph.
func seedGrants(ctx context.Context, f *fakes, database string, users []string, ends func(int) time.Time) error {
	db, err := storage.Open(ctx, database, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return fmt.Errorf("open the database to seed it: %w", err)
	}
	defer db.Close()
	seq := int(time.Now().Unix() % 0xffff)
	approver := access.Person{ObjectID: approverID, Name: "Bench Approver"}
	for i := range users {
		u := userID(0x10000+seq, i)
		users[i] = u
		f.graph.AddUser(u)
		f.graph.AddMember(groupID, u)
		end := ends(i)
		approved := time.Now()
		if end.Before(approved) {
			approved = end
		}
		_, err := accesstest.ActiveGrant(ctx, db, accesstest.Seed{
			Profile: profileName, GroupID: groupID, Approver: approver, Owner: "bench-seed",
			User: access.Person{ObjectID: u, Name: "Bench User"},
			Chat: access.ConversationRef{
				ServiceURL: f.serviceURL, ChannelID: "msteams", ConversationID: personal(u), TenantID: tenantID,
				BotID: "28:" + appID, BotName: "jitbot", UserID: "29:" + u, UserName: "Bench User",
			},
			Approved: approved.Add(-time.Minute), Expires: end,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// liveGrantUsers returns the users with a live grant (granting, active,
// revoking, irrevocable) of the profile's group.
func liveGrantUsers(ctx context.Context, database string) (map[string]bool, error) {
	db, err := storage.Open(ctx, database, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, fmt.Errorf("open the database: %w", err)
	}
	defer db.Close()
	gs, err := db.LiveGrants(ctx, groupID)
	if err != nil {
		return nil, err
	}
	live := make(map[string]bool, len(gs))
	for _, g := range gs {
		live[strings.ToLower(g.User.ObjectID)] = true
	}
	return live, nil
}

// countRemovals fills in r's Graph figures from the fake Graph's calls:
// each due user's first DELETE Graph carried out (204) is its removal, late
// after from[user].
func countRemovals(g *graphtest.Graph, users []string, from map[string]time.Time, r *expiryResult) {
	due := make(map[string]bool, len(users))
	for _, u := range users {
		due[u] = true
	}
	var first time.Time
	for _, t := range from {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	removed := map[string]int{}
	var late []time.Duration
	var last time.Time
	for _, c := range g.Calls() {
		switch {
		case c.Route == graphtest.RouteBatch:
			r.HTTPCalls++
			r.Batches++
			continue
		case c.BatchID == "":
			r.HTTPCalls++
		}
		r.Requests++
		if c.Status == http.StatusTooManyRequests {
			r.Graph429++
		}
		if c.Route != graphtest.RouteRemoveMember || c.Status != http.StatusNoContent || !due[strings.ToLower(c.ObjectID)] {
			continue
		}
		u := strings.ToLower(c.ObjectID)
		removed[u]++
		if removed[u] == 1 {
			late = append(late, max(0, c.At.Sub(from[u])))
			if c.At.After(last) {
				last = c.At
			}
		}
	}
	for _, n := range removed {
		if n > 1 {
			r.Duplicates++
		}
	}
	if !last.IsZero() {
		r.Span = last.Sub(first)
	}
	slices.Sort(late)
	r.P50, r.P99 = percentile(late, 50), percentile(late, 99)
	if len(late) > 0 {
		r.Max = late[len(late)-1]
	}
}

// printExpiryTable writes the expiry results as a table.
func printExpiryTable(w io.Writer, results []expiryResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tgrants\tdue\tready\tdue to last\tlate p50\tlate p99\tlate max\tgraph HTTP\trequests\tbatches\tgraph 429\tduplicates\tlost\ttold\tbot CPU s\tpeak RSS MiB\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.2f\t%.1f\t%.1f\t\n", r.Scenario, r.Grants, r.Due,
			ms(r.Ready), ms(r.Span), ms(r.P50), ms(r.P99), ms(r.Max), r.HTTPCalls, r.Requests, r.Batches, r.Graph429,
			r.Duplicates, r.Lost, r.Told, r.CPU.Seconds(), float64(r.PeakRSS)/(1<<20), 100*r.Steal)
	}
	_ = tw.Flush()
}
