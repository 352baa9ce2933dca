package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jitbot/jitbot/access"
)

// Break is where a chain stops verifying: the first event (or checkpoint)
// that does not fit, and what is wrong with it.
type Break struct {
	// Seq is the sequence number at which the chain breaks; EventID the
	// storage id of the event found there (0 when none is).
	Seq     int64
	EventID int64
	Problem string
}

func (b *Break) Error() string {
	if b.EventID != 0 {
		return fmt.Sprintf("audit chain broken at seq %d (event id %d): %s", b.Seq, b.EventID, b.Problem)
	}
	return fmt.Sprintf("audit chain broken at seq %d: %s", b.Seq, b.Problem)
}

// Result is what an intact log holds.
type Result struct {
	// Events counts the events verified (those from before the chain
	// included); Checkpoints the checkpoints matched to the chain.
	Events      int64
	Checkpoints int
	// FirstSeq and LastSeq bound the chain (FirstSeq is above 1 after
	// retention removed older segments).
	FirstSeq, LastSeq int64
	// SignaturesChecked is false when no public key was given.
	SignaturesChecked bool
}

// Options say what a verification may assume about the deployment.
type Options struct {
	// Keys are the public keys checkpoints may be signed with: the
	// current signing key's and those of the keys it replaced. Each
	// checkpoint is checked with the key its KeyID names. Without keys
	// the checkpoints' hashes are matched but their signatures are not
	// checked.
	Keys []ed25519.PublicKey
	// Retention is the deployment's audit.retention (0: keep forever).
	// With 0, a chain must start at seq 1; otherwise it may start right
	// after a checkpoint signed at least Retention ago.
	Retention time.Duration
	// CheckpointInterval is the deployment's audit.checkpoint_interval.
	// With keys, an event older than twice the interval that no signed
	// checkpoint covers is a break: checkpoints are signed every interval,
	// so their rows were deleted (or the checkpoint job stopped). 0 turns
	// the check off.
	CheckpointInterval time.Duration
	// Extra are checkpoints kept outside the database (a checkpoint file,
	// a SIEM's copy); one that contradicts a stored one of the same seq
	// is a break.
	Extra []access.Checkpoint
	// Now is the time of the verification (time.Now when nil).
	Now func() time.Time

	// segment verifies the chain after a trusted checkpoint only (the
	// checkpoint job): the start is not held to the retention.
	segment bool
}

func (o Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// Verifier checks a log event by event, in chain order, holding only the
// previous event and the checkpoints: memory stays flat however long the
// chain. Feed it with Add, then call Finish.
type Verifier struct {
	opt         Options
	now         time.Time
	keys        map[string]ed25519.PublicKey
	checkpoints []access.Checkpoint
	next        int // the first checkpoint not yet matched

	legacy  LegacyDigest
	started bool
	prev    access.AuditEvent
	// uncovered is the first event after the last checkpoint matched
	// (Seq 0 when every event so far is covered).
	uncovered access.AuditEvent
	res       Result
}

// NewVerifier returns a verifier of the chain against checkpoints.
func NewVerifier(checkpoints []access.Checkpoint, opt Options) *Verifier {
	cs := append([]access.Checkpoint(nil), checkpoints...)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Seq < cs[j].Seq })
	return &Verifier{checkpoints: cs, opt: opt, now: opt.now(), keys: keyMap(opt.Keys), res: Result{SignaturesChecked: len(opt.Keys) > 0}}
}

// keyMap indexes keys by KeyID.
func keyMap(keys []ed25519.PublicKey) map[string]ed25519.PublicKey {
	m := make(map[string]ed25519.PublicKey, len(keys))
	for _, k := range keys {
		m[KeyID(k)] = k
	}
	return m
}

// checkSigned checks c's signature with the key of keys its KeyID names.
func checkSigned(keys map[string]ed25519.PublicKey, c access.Checkpoint) error {
	pub, ok := keys[c.KeyID]
	if !ok {
		ids := make([]string, 0, len(keys))
		for id := range keys {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		return fmt.Errorf("it names another key (%s) than the given public keys (%s)", c.KeyID, strings.Join(ids, ", "))
	}
	return CheckSignature(pub, c)
}

// CheckSigned reports whether c is signed by the key of keys that its
// KeyID names; the error says why not.
func CheckSigned(keys []ed25519.PublicKey, c access.Checkpoint) error {
	return checkSigned(keyMap(keys), c)
}

// signed checks c's signature when keys were given.
func (v *Verifier) signed(c access.Checkpoint, id int64) error {
	if len(v.keys) == 0 {
		return nil
	}
	if err := checkSigned(v.keys, c); err != nil {
		return &Break{Seq: c.Seq, EventID: id, Problem: "checkpoint signed at " + c.At.Format(TimeLayout) + ": " + err.Error()}
	}
	return nil
}

// checkpoint checks the signature of the checkpoint c and that it records
// hash at its seq.
func (v *Verifier) checkpoint(c access.Checkpoint, hash string, id int64) error {
	if err := v.signed(c, id); err != nil {
		return err
	}
	if c.Hash != hash {
		return &Break{Seq: c.Seq, EventID: id, Problem: fmt.Sprintf("the checkpoint signed at %s records hash %s, the chain has %s: the log was rewritten up to here after it was signed", c.At.Format(TimeLayout), c.Hash, hash)}
	}
	v.res.Checkpoints++
	return nil
}

// Add checks the next event, returning a *Break at the first problem.
func (v *Verifier) Add(ev access.AuditEvent) error {
	v.res.Events++
	if ev.Seq == 0 {
		if v.started {
			return &Break{Seq: v.prev.Seq + 1, EventID: ev.ID, Problem: "an event without a place in the chain (seq 0) follows chained events: inserted"}
		}
		v.legacy.Add(ev)
		return nil
	}
	if !v.started {
		v.started = true
		v.res.FirstSeq = ev.Seq
		if err := v.first(ev); err != nil {
			return err
		}
	} else {
		switch {
		case ev.Seq == v.prev.Seq:
			return &Break{Seq: ev.Seq, EventID: ev.ID, Problem: "a second event has this seq: inserted"}
		case ev.Seq != v.prev.Seq+1:
			return &Break{Seq: v.prev.Seq + 1, EventID: ev.ID, Problem: fmt.Sprintf("missing: the next event has seq %d (events %d to %d deleted)", ev.Seq, v.prev.Seq+1, ev.Seq-1)}
		case ev.PrevHash != v.prev.Hash:
			return &Break{Seq: ev.Seq, EventID: ev.ID, Problem: fmt.Sprintf("its previous hash is not the hash of event %d: events reordered, inserted, or event %d rewritten", v.prev.Seq, v.prev.Seq)}
		}
	}
	if h := HashEvent(ev); h != ev.Hash {
		return &Break{Seq: ev.Seq, EventID: ev.ID, Problem: "its content does not match its hash: edited"}
	}
	if ev.Action == access.ActionAuditGenesis && ev.Seq != 1 {
		return &Break{Seq: ev.Seq, EventID: ev.ID, Problem: "a genesis event inside the chain: inserted"}
	}
	if v.uncovered.Seq == 0 {
		v.uncovered = ev
	}
	for v.next < len(v.checkpoints) && v.checkpoints[v.next].Seq <= ev.Seq {
		c := v.checkpoints[v.next]
		v.next++
		if c.Seq < ev.Seq {
			// Before the first retained event: its signature alone can
			// be checked.
			if err := v.signed(c, 0); err != nil {
				return err
			}
			v.res.Checkpoints++
			continue
		}
		if err := v.checkpoint(c, ev.Hash, ev.ID); err != nil {
			return err
		}
		v.uncovered = access.AuditEvent{}
	}
	v.prev = ev
	v.res.LastSeq = ev.Seq
	return nil
}

// first checks where the chain starts: at seq 1 (a genesis event when
// there are events from before the chain), or, after retention, right
// after a checkpoint it links to.
func (v *Verifier) first(ev access.AuditEvent) error {
	if ev.Seq == 1 {
		if ev.PrevHash != "" {
			return &Break{Seq: 1, EventID: ev.ID, Problem: "the first event links to a previous one"}
		}
		switch {
		case ev.Action == access.ActionAuditGenesis:
			if want := v.legacy.Genesis().Reason; ev.Reason != want {
				return &Break{Seq: 1, EventID: ev.ID, Problem: fmt.Sprintf("the genesis does not seal the %d events from before the chain as stored (it says %q): one of them was edited, deleted or inserted", v.legacy.Count(), ev.Reason)}
			}
		case v.legacy.Count() > 0:
			return &Break{Seq: 1, EventID: ev.ID, Problem: fmt.Sprintf("%d events without a place in the chain (seq 0) and no genesis sealing them: inserted", v.legacy.Count())}
		}
		return nil
	}
	if v.legacy.Count() > 0 {
		return &Break{Seq: ev.Seq, EventID: ev.ID, Problem: fmt.Sprintf("%d events without a place in the chain (seq 0) before a chain that starts at seq %d: inserted", v.legacy.Count(), ev.Seq)}
	}
	// A chain that starts later must start right after a checkpoint
	// (where retention cut it).
	for _, c := range v.checkpoints {
		if c.Seq == ev.Seq-1 {
			if err := v.anchor(c); err != nil {
				return err
			}
			if ev.PrevHash != c.Hash {
				return &Break{Seq: ev.Seq, EventID: ev.ID, Problem: fmt.Sprintf("the chain starts after checkpoint %d but does not link to its hash", c.Seq)}
			}
			return nil
		}
	}
	return &Break{Seq: ev.Seq - 1, Problem: fmt.Sprintf("missing: the chain starts at seq %d, and no checkpoint at seq %d anchors it (events up to %d deleted)", ev.Seq, ev.Seq-1, ev.Seq-1)}
}

// anchor checks that retention may have cut the chain at checkpoint c:
// it is signed, retention is on, and c was signed at least the retention
// ago (retention cuts only there).
func (v *Verifier) anchor(c access.Checkpoint) error {
	if err := v.signed(c, 0); err != nil {
		return err
	}
	if v.opt.segment {
		return nil
	}
	if v.opt.Retention <= 0 {
		return &Break{Seq: c.Seq, Problem: fmt.Sprintf("missing: the events up to seq %d were deleted, yet audit.retention is 0 (keep forever)", c.Seq)}
	}
	if limit := v.now.Add(-v.opt.Retention); c.At.After(limit) {
		return &Break{Seq: c.Seq, Problem: fmt.Sprintf("missing: the events up to seq %d were deleted, yet its checkpoint was signed at %s, less than audit.retention (%s) ago: retention never removes them", c.Seq, c.At.Format(TimeLayout), v.opt.Retention)}
	}
	return nil
}

// Finish checks the end of the chain against the stored head and the
// checkpoints not yet matched, and returns what was verified.
func (v *Verifier) Finish(head access.ChainHead) (Result, error) {
	if !v.started && v.legacy.Count() > 0 {
		return v.res, &Break{Seq: 1, Problem: fmt.Sprintf("%d events without a place in the chain (seq 0) and no genesis sealing them", v.legacy.Count())}
	}
	if !v.started && head.Seq > 0 && len(v.checkpoints) > 0 {
		// Retention may have removed every event: the newest checkpoint
		// then records the head.
		if c := v.checkpoints[len(v.checkpoints)-1]; c.Seq == head.Seq && c.Hash == head.Hash {
			for _, c := range v.checkpoints {
				if err := v.signed(c, 0); err != nil {
					return v.res, err
				}
			}
			if err := v.anchor(c); err != nil {
				return v.res, err
			}
			v.res.Checkpoints = len(v.checkpoints)
			v.res.FirstSeq, v.res.LastSeq = head.Seq+1, head.Seq
			return v.res, nil
		}
	}
	for ; v.next < len(v.checkpoints); v.next++ {
		c := v.checkpoints[v.next]
		if err := v.signed(c, 0); err != nil {
			return v.res, err
		}
		if !v.started || c.Seq > v.prev.Seq {
			return v.res, &Break{Seq: v.prev.Seq + 1, Problem: fmt.Sprintf("missing: a checkpoint signed at %s covers seq %d, the chain ends at seq %d (the last events deleted)", c.At.Format(TimeLayout), c.Seq, v.prev.Seq)}
		}
	}
	switch {
	case head.Seq > v.prev.Seq:
		return v.res, &Break{Seq: v.prev.Seq + 1, Problem: fmt.Sprintf("missing: the chain head records seq %d, the chain ends at seq %d (the last events deleted)", head.Seq, v.prev.Seq)}
	case head.Seq < v.prev.Seq:
		return v.res, &Break{Seq: head.Seq + 1, Problem: fmt.Sprintf("the chain head records seq %d, yet events follow up to seq %d: appended outside jitbot", head.Seq, v.prev.Seq)}
	case head.Hash != v.prev.Hash:
		return v.res, &Break{Seq: v.prev.Seq, EventID: v.prev.ID, Problem: "the chain head records another hash for the last event: rewritten"}
	}
	if u := v.uncovered; u.Seq != 0 && len(v.keys) > 0 && v.opt.CheckpointInterval > 0 {
		if limit := v.now.Add(-2 * v.opt.CheckpointInterval); u.At.Before(limit) {
			return v.res, &Break{Seq: u.Seq, EventID: u.ID, Problem: fmt.Sprintf("no signed checkpoint covers this event of %s, although checkpoints are signed every %s: checkpoints deleted from the database (or the checkpoint job has not run since)", u.At.Format(TimeLayout), v.opt.CheckpointInterval)}
		}
	}
	return v.res, nil
}

// Log is what Verify reads.
type Log interface {
	EachAudit(ctx context.Context, q access.AuditQuery, fn func(access.AuditEvent) error) error
	EachCheckpoint(ctx context.Context, fn func(access.Checkpoint) error) error
	ChainHead(ctx context.Context) (access.ChainHead, error)
}

// verifyRetries bounds how often Verify walks again because retention
// removed events during its walk.
const verifyRetries = 3

// Verify walks the whole log and its checkpoints, plus opt.Extra: a *Break
// at the first problem. An extra checkpoint that contradicts a stored one
// of the same seq is a break too. The checkpoints are read before the
// head, and the head before the walk, so that a checkpoint signed or an
// event appended meanwhile is not taken for tampering; every event is
// walked, and events beyond the head read again after the walk are a
// break. When retention removed events during the walk (the first stored
// event moved), the walk starts again.
func Verify(ctx context.Context, log Log, opt Options) (Result, error) {
	for try := 1; ; try++ {
		first, err := firstSeq(ctx, log)
		if err != nil {
			return Result{}, err
		}
		res, err := verifyOnce(ctx, log, opt)
		var b *Break
		if err == nil || !errors.As(err, &b) || try == verifyRetries {
			return res, err
		}
		now, ferr := firstSeq(ctx, log)
		if ferr != nil {
			return res, errors.Join(err, ferr)
		}
		if now == first {
			return res, err
		}
	}
}

// firstSeq is the seq of the first stored event (-1 when there is none).
func firstSeq(ctx context.Context, log Log) (int64, error) {
	seq := int64(-1)
	err := log.EachAudit(ctx, access.AuditQuery{Limit: 1}, func(ev access.AuditEvent) error { seq = ev.Seq; return nil })
	if err != nil {
		return 0, err
	}
	return seq, nil
}

func verifyOnce(ctx context.Context, log Log, opt Options) (Result, error) {
	bySeq := map[int64]access.Checkpoint{}
	var cps []access.Checkpoint
	err := log.EachCheckpoint(ctx, func(c access.Checkpoint) error {
		bySeq[c.Seq] = c
		cps = append(cps, c)
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	// conflict is the lowest checkpoint whose stored row differs from its
	// copy in the file; it is reported unless the walk breaks earlier.
	var conflict *Break
	for _, c := range opt.Extra {
		if s, ok := bySeq[c.Seq]; ok {
			if (s.Hash != c.Hash || s.Signature != c.Signature || !s.At.Equal(c.At)) && (conflict == nil || c.Seq < conflict.Seq) {
				conflict = &Break{Seq: c.Seq, Problem: "the stored checkpoint differs from its copy in the checkpoint file: rewritten"}
			}
			continue
		}
		bySeq[c.Seq] = c
		cps = append(cps, c)
	}
	head, err := log.ChainHead(ctx)
	if err != nil {
		return Result{}, err
	}
	v := NewVerifier(cps, opt)
	var atHead string // the hash of the event at head.Seq
	err = log.EachAudit(ctx, access.AuditQuery{}, func(ev access.AuditEvent) error {
		if ev.Seq == head.Seq {
			atHead = ev.Hash
		}
		return v.Add(ev)
	})
	if err == nil {
		err = v.finish(ctx, log, head, atHead)
	}
	var b *Break
	if conflict != nil && (err == nil || (errors.As(err, &b) && conflict.Seq <= b.Seq)) {
		return v.res, conflict
	}
	if err != nil {
		return v.res, err
	}
	return v.res, nil
}

// finish ends a walk that started at head: events past head must have
// been appended by jitbot during the walk, so the head read again must
// record them.
func (v *Verifier) finish(ctx context.Context, log Log, head access.ChainHead, atHead string) error {
	if v.prev.Seq > head.Seq {
		now, err := log.ChainHead(ctx)
		if err != nil {
			return err
		}
		switch {
		case v.prev.Seq > now.Seq:
			return &Break{Seq: now.Seq + 1, Problem: fmt.Sprintf("the chain head records seq %d, yet events follow up to seq %d: appended outside jitbot", now.Seq, v.prev.Seq)}
		case head.Seq > 0 && atHead != head.Hash:
			return &Break{Seq: head.Seq, Problem: "the chain head records another hash for this event: rewritten"}
		}
		head = Head(v.prev)
		if now.Seq == v.prev.Seq {
			head = now
		}
	}
	_, err := v.Finish(head)
	return err
}
