package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jitbot/jitbot/bot/connectortest"
)

// The scenarios, in the order the help lists them.
var scenarioNames = []string{"help", "request", "approve", "status", "forged", "mixed"}

func validScenario(s string) bool { return slices.Contains(scenarioNames, s) }

// result is one scenario's line of the table.
type result struct {
	Scenario string
	// Requests is the activities sent; Accepted those answered with the
	// expected status (200, or 401 for forged); Errors the others
	// (transport errors included).
	Requests, Accepted, Errors int
	// Status counts the answers by HTTP status (0: transport error).
	Status  map[int]int
	Elapsed time.Duration
	P50     time.Duration
	P99     time.Duration
	// Replies is how many of the activities got a reply in their
	// conversation at the fake connector (for request: the "request
	// received" card of a stored request, not a refusal; for status, of a
	// requester with a pending request: a card naming it; for approve: a
	// notice to the requester); for forged it must stay 0.
	Replies int
	// Granted is, for approve, how many requesters are now members of the
	// profile's group in the fake Graph.
	Granted int
	// GraphCalls is the calls the fake Graph received during the scenario,
	// Graph429 those it answered 429.
	GraphCalls, Graph429 int
	// CPU is the bot's user+system time during the scenario; PeakRSS its
	// peak resident set (0 when the bot's pid is unknown).
	CPU     time.Duration
	PeakRSS int64
}

// load sends the scenarios' activities to the bot.
type load struct {
	f      *fakes
	url    string
	o      options
	client *http.Client
	token  string   // a channel token, reused as the channel reuses it
	forged []string // tokens the bot must refuse, used in turn
	seq    int      // numbers the scenarios run, to give each its own users
	// pendingUsers are requesters of the request scenario, each with a
	// pending request; the status scenario asks for theirs first.
	pendingUsers []string
}

func newLoad(f *fakes, url string, o options) *load {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = o.concurrency*2, o.concurrency*2
	key := connectortest.NewRSAKey(&fakeTB{})
	tok := func(opts ...connectortest.TokenOption) string { return f.issuer.Token(appID, f.serviceURL, opts...) }
	seq := 0
	if o.database != "" {
		// A database of an earlier run holds that run's pending requests,
		// which would refuse the same users' new ones: new users each run.
		seq = int(time.Now().Unix()%0xffff) << 8
	}
	return &load{
		seq: seq,
		f:   f, url: url, o: o,
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		token:  tok(),
		forged: []string{
			// Signed by a key nobody published, under the real key's id.
			tok(connectortest.WithSigningKey(key), connectortest.WithKeyID(f.issuer.KeyID())),
			tok(connectortest.WithAlgNone()),
			tok(connectortest.WithHS256(f.issuer.PublicKeyDER())),
			tok(connectortest.WithAudience("00000000-0000-4000-8000-000000000bad")),
			tok(connectortest.WithExpiresAt(time.Now().Add(-time.Hour))),
			tok(connectortest.WithIssuer("https://forged.example.com")),
		},
	}
}

// userID is the Entra object id of the i-th user of scenario seq.
func userID(seq, i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", seq, i) }

// personal is the personal chat's conversation id of a user.
func personal(user string) string { return "a:" + user }

// activity is a Teams activity from user in their personal chat.
func (l *load) activity(user, id string) map[string]any {
	return map[string]any{
		"type": "message", "id": id, "channelId": "msteams", "serviceUrl": l.f.serviceURL,
		"timestamp":    time.Now().UTC().Format(time.RFC3339Nano),
		"from":         map[string]any{"id": "29:" + user, "name": "Bench User", "aadObjectId": user},
		"recipient":    map[string]any{"id": "28:" + appID, "name": "jitbot"},
		"conversation": map[string]any{"id": personal(user), "conversationType": "personal", "tenantId": tenantID},
		"channelData":  map[string]any{"tenant": map[string]any{"id": tenantID}},
	}
}

func (l *load) message(user, id, text string) map[string]any {
	a := l.activity(user, id)
	a["text"] = text
	return a
}

// approveClick is an approver's Approve on the card of requestID.
func (l *load) approveClick(id, requestID string) map[string]any {
	a := l.activity(approverID, id)
	a["type"], a["name"] = "invoke", "adaptiveCard/action"
	a["value"] = map[string]any{"action": map[string]any{"type": "Action.Execute", "verb": "approve", "data": map[string]any{"requestId": requestID}}}
	return a
}

// post sends one activity and returns the HTTP status.
func (l *load) post(ctx context.Context, act map[string]any, token string) (int, error) {
	body, err := json.Marshal(act)
	if err != nil {
		return 0, fmt.Errorf("encode activity: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url+"/api/messages", bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post activity: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// addRequester makes user a member of the profile's requester group.
func (l *load) addRequester(user string) {
	l.f.graph.AddUser(user)
	l.f.graph.AddMember(requesterG, user)
}

const requestText = "request " + profileName + " 1h load test of the bot"

// plan is what a scenario sends.
type plan struct {
	limit  int // most activities (0: no limit)
	expect int // the HTTP status an accepted activity gets
	// prepare readies activity i before its timing starts; send sends it.
	prepare func(i int)
	send    func(ctx context.Context, i int) (int, error)
	// conv is the conversation where activity i's reply lands, with the
	// number of activities it held before.
	conv func(i int) (string, int)
	// replied tells whether the new activities of a conversation are the
	// reply the scenario wants (default: any).
	replied func(i int, acts []connectortest.Activity) bool
}

// namesRequest tells whether one of acts is a card naming a request: the
// "request received" card, so the request was stored, not refused.
func namesRequest(_ int, acts []connectortest.Activity) bool {
	for _, a := range acts {
		if requestID(a) != "" {
			return true
		}
	}
	return false
}

// requestID is the request id a card names, or "".
func requestID(a connectortest.Activity) string {
	card := a.Card()
	if card == nil {
		return ""
	}
	raw, err := json.Marshal(card)
	if err != nil {
		return ""
	}
	if m := requestIDRe.FindSubmatch(raw); m != nil {
		return string(m[1])
	}
	return ""
}

// run runs one scenario against the bot whose process is pid (0: unknown).
func (l *load) run(ctx context.Context, name string, pid int) (result, error) {
	l.seq++
	seq := l.seq
	r := result{Scenario: name, Status: map[int]int{}}
	p := plan{limit: l.o.requests, expect: http.StatusOK, prepare: func(int) {}}
	fresh := func(i int) (string, int) { return personal(userID(seq, i)), 0 }
	switch name {
	case "help":
		p.conv = fresh
		p.send = func(ctx context.Context, i int) (int, error) {
			return l.post(ctx, l.message(userID(seq, i), fmt.Sprintf("bench-%d-%d", seq, i), name), l.token)
		}
	case "status":
		// The requesters with a pending request first (their card lists
		// it), each once, then new users (nothing to list).
		users := l.pendingUsers
		user := func(i int) string {
			if i < len(users) {
				return users[i]
			}
			return userID(seq, i)
		}
		before := make([]atomic.Int64, len(users))
		p.prepare = func(i int) {
			if i < len(users) {
				before[i].Store(int64(len(l.f.conn.Activities(personal(users[i])))))
			}
		}
		p.conv = func(i int) (string, int) {
			if i < len(users) {
				return personal(users[i]), int(before[i].Load())
			}
			return personal(user(i)), 0
		}
		// A requester's status card names their pending request.
		p.replied = func(i int, acts []connectortest.Activity) bool { return i >= len(users) || namesRequest(i, acts) }
		p.send = func(ctx context.Context, i int) (int, error) {
			return l.post(ctx, l.message(user(i), fmt.Sprintf("bench-%d-%d", seq, i), name), l.token)
		}
	case "request":
		p.conv, p.replied = fresh, namesRequest
		p.prepare = func(i int) { l.addRequester(userID(seq, i)) }
		p.send = func(ctx context.Context, i int) (int, error) {
			return l.post(ctx, l.message(userID(seq, i), fmt.Sprintf("bench-%d-%d", seq, i), requestText), l.token)
		}
	case "forged":
		p.conv, p.expect = fresh, http.StatusUnauthorized
		p.send = func(ctx context.Context, i int) (int, error) {
			return l.post(ctx, l.message(userID(seq, i), fmt.Sprintf("bench-%d-%d", seq, i), "help"), l.forged[i%len(l.forged)])
		}
	case "approve":
		ids, before, err := l.pending(ctx, seq)
		if err != nil {
			return r, err
		}
		if len(ids) == 0 {
			return r, errors.New("no pending request to approve")
		}
		if p.limit == 0 || p.limit > len(ids) {
			p.limit = len(ids)
		}
		p.conv = func(i int) (string, int) { return personal(userID(seq, i)), before[i] }
		p.send = func(ctx context.Context, i int) (int, error) {
			return l.post(ctx, l.approveClick(fmt.Sprintf("bench-%d-click-%d", seq, i), ids[i]), l.token)
		}
	default:
		return r, fmt.Errorf("unknown scenario %q", name)
	}

	var start procStats
	if pid != 0 {
		resetPeakRSS(pid)
		var err error
		if start, err = readProc(pid); err != nil {
			return r, fmt.Errorf("bot process: %w", err)
		}
	}
	graphBefore := len(l.f.graph.Calls())
	lat := l.drive(ctx, p, &r)
	l.countReplies(ctx, p, &r)
	for _, c := range l.f.graph.Calls()[graphBefore:] {
		r.GraphCalls++
		if c.Status == http.StatusTooManyRequests {
			r.Graph429++
		}
	}
	if name == "approve" {
		members := memberSet(l.f.graph)
		for i := range r.Requests {
			if members[strings.ToLower(userID(seq, i))] {
				r.Granted++
			}
		}
	}
	if pid != 0 {
		end, err := readProc(pid)
		if err != nil {
			return r, fmt.Errorf("bot process: %w", err)
		}
		r.CPU, r.PeakRSS = end.cpu-start.cpu, end.peakRSS
	}
	if name == "request" {
		for i := range r.Requests {
			if conv, _ := p.conv(i); namesRequest(i, l.f.conn.Activities(conv)) {
				l.pendingUsers = append(l.pendingUsers, userID(seq, i))
			}
		}
	}
	slices.Sort(lat)
	r.P50, r.P99 = percentile(lat, 50), percentile(lat, 99)
	return r, nil
}

// drive sends p's activities with the configured senders, for the
// configured time or count, and returns the latencies of the accepted ones.
func (l *load) drive(ctx context.Context, p plan, r *result) []time.Duration {
	ctx, cancel := context.WithTimeout(ctx, l.o.duration)
	defer cancel()
	var (
		next    atomic.Int64
		mu      sync.Mutex
		lat     []time.Duration
		wg      sync.WaitGroup
		started = time.Now()
	)
	for range l.o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			statuses := map[int]int{}
			sent := 0
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				r.Requests += sent
				for s, n := range statuses {
					r.Status[s] += n
				}
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if p.limit > 0 && i >= p.limit {
					return
				}
				p.prepare(i)
				t0 := time.Now()
				if l.o.rate > 0 {
					// Open loop: each activity has its time; latency counts
					// from it, so a slow bot is not hidden by waiting senders.
					t0 = started.Add(time.Duration(float64(i) / l.o.rate * float64(time.Second)))
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Until(t0)):
					}
				}
				// The request itself is not cut off by the scenario's end.
				status, err := p.send(context.WithoutCancel(ctx), i)
				sent++
				if err != nil {
					status = 0
				}
				statuses[status]++
				if status == p.expect {
					mine = append(mine, time.Since(t0))
				}
			}
		}()
	}
	wg.Wait()
	r.Elapsed = time.Since(started)
	r.Accepted = r.Status[p.expect]
	r.Errors = r.Requests - r.Accepted
	return lat
}

// countReplies counts the activities whose conversation got a reply,
// waiting up to the drain time for replies still on their way.
func (l *load) countReplies(ctx context.Context, p plan, r *result) {
	want := r.Accepted
	if p.expect != http.StatusOK {
		want = 0
	}
	deadline := time.Now().Add(l.o.drain)
	for {
		n := 0
		for i := range r.Requests {
			conv, before := p.conv(i)
			if acts := l.f.conn.Activities(conv); len(acts) > before && (p.replied == nil || p.replied(i, acts[before:])) {
				n++
			}
		}
		r.Replies = n
		// A forged run waits the whole drain time: a reply there would be
		// a failure that must not be missed by looking too early.
		if (n >= want && want > 0) || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var requestIDRe = regexp.MustCompile(`"requestId":"([^"]+)"`)

// pending makes the approve scenario's pending requests (unmeasured) and
// returns their ids, in the order of their requesters, with the number of
// activities in each requester's chat afterwards.
func (l *load) pending(ctx context.Context, seq int) ([]string, []int, error) {
	n := l.o.approvePool
	if l.o.requests > 0 {
		n = min(n, l.o.requests)
	}
	ids, before := make([]string, n), make([]int, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, l.o.concurrency)
	for range l.o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				user := userID(seq, i)
				l.addRequester(user)
				status, err := l.post(ctx, l.message(user, fmt.Sprintf("bench-%d-req-%d", seq, i), requestText), l.token)
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("HTTP %d", status)
				}
				if err != nil {
					errs <- fmt.Errorf("pending request %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := errors.Join(slices.Collect(chanSeq(errs))...); err != nil {
		return nil, nil, err
	}
	// The "request received" card in the requester's chat names the request.
	deadline := time.Now().Add(l.o.drain)
	for i := 0; i < n; {
		acts := l.f.conn.Activities(personal(userID(seq, i)))
		for _, a := range acts {
			if ids[i] = requestID(a); ids[i] != "" {
				break
			}
		}
		if ids[i] == "" {
			if time.Now().After(deadline) {
				return nil, nil, fmt.Errorf("no request id in the chat of pending requester %d (%d activities)", i, len(acts))
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		before[i] = len(acts)
		i++
	}
	return ids, before, nil
}

// chanSeq yields what c delivers until it is closed.
func chanSeq[T any](c <-chan T) func(func(T) bool) {
	return func(yield func(T) bool) {
		for v := range c {
			if !yield(v) {
				return
			}
		}
	}
}

// percentile is the p-th percentile of sorted (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := (len(sorted)*p + 99) / 100
	return sorted[max(k, 1)-1]
}

// waitForBot waits until something answers at the bot's messaging endpoint.
func waitForBot(ctx context.Context, base string) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/messages", nil)
		if err != nil {
			return fmt.Errorf("-url: %w", err)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("no bot answered at %s", base)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// printTable writes the results as a table.
func printTable(w io.Writer, results []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\treq/s\tp50\tp99\terrors\treplies\tgraph calls\tgraph 429\tbot CPU s\tpeak RSS MiB\t")
	for _, r := range results {
		rps := 0.0
		if r.Elapsed > 0 {
			rps = float64(r.Requests) / r.Elapsed.Seconds()
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%d\t%d\t%d\t%d\t%.2f\t%.1f\t\n", r.Scenario, r.Requests, rps,
			ms(r.P50), ms(r.P99), r.Errors, r.Replies, r.GraphCalls, r.Graph429, r.CPU.Seconds(), float64(r.PeakRSS)/(1<<20))
	}
	_ = tw.Flush()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
