package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sort"

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

// Verifier checks a log event by event, in chain order, holding only the
// previous event and the checkpoints: memory stays flat however long the
// chain. Feed it with Add, then call Finish.
type Verifier struct {
	key         ed25519.PublicKey
	checkpoints []access.Checkpoint
	next        int // the first checkpoint not yet matched

	legacy  LegacyDigest
	started bool
	prev    access.AuditEvent
	res     Result
}

// NewVerifier returns a verifier of the chain against checkpoints. With a
// nil key the checkpoints' hashes are matched but their signatures are not
// checked.
func NewVerifier(checkpoints []access.Checkpoint, key ed25519.PublicKey) *Verifier {
	cs := append([]access.Checkpoint(nil), checkpoints...)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Seq < cs[j].Seq })
	return &Verifier{checkpoints: cs, key: key, res: Result{SignaturesChecked: key != nil}}
}

// signed checks c's signature when a key was given.
func (v *Verifier) signed(c access.Checkpoint, id int64) error {
	if v.key == nil {
		return nil
	}
	if err := CheckSignature(v.key, c); err != nil {
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
			if err := v.signed(c, 0); err != nil {
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

// Finish checks the end of the chain against the stored head and the
// checkpoints not yet matched, and returns what was verified.
func (v *Verifier) Finish(head access.ChainHead) (Result, error) {
	if !v.started && v.legacy.Count() > 0 {
		return v.res, &Break{Seq: 1, Problem: fmt.Sprintf("%d events without a place in the chain (seq 0) and no genesis sealing them", v.legacy.Count())}
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
	return v.res, nil
}

// Log is what Verify reads.
type Log interface {
	EachAudit(ctx context.Context, q access.AuditQuery, fn func(access.AuditEvent) error) error
	EachCheckpoint(ctx context.Context, fn func(access.Checkpoint) error) error
	ChainHead(ctx context.Context) (access.ChainHead, error)
}

// Verify walks the whole log and its checkpoints, plus extra checkpoints
// kept elsewhere (read from a checkpoint file before the call): a *Break at
// the first problem. An extra checkpoint that contradicts a stored one of
// the same seq is a break too. The checkpoints are read before the head,
// and the head before the walk, so that a checkpoint signed or an event
// appended meanwhile is not taken for tampering.
func Verify(ctx context.Context, log Log, key ed25519.PublicKey, extra []access.Checkpoint) (Result, error) {
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
	for _, c := range extra {
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
	v := NewVerifier(cps, key)
	err = log.EachAudit(ctx, access.AuditQuery{}, func(ev access.AuditEvent) error {
		if ev.Seq > head.Seq {
			return errStop
		}
		return v.Add(ev)
	})
	if err == nil || errors.Is(err, errStop) {
		var res Result
		res, err = v.Finish(head)
		if err == nil && conflict == nil {
			return res, nil
		}
	}
	var b *Break
	if conflict != nil && (err == nil || (errors.As(err, &b) && conflict.Seq <= b.Seq)) {
		return v.res, conflict
	}
	return v.res, err
}

// errStop ends the walk at the head read before it.
var errStop = errors.New("end of the chain as of the start of the walk")
