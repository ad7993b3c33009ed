package operators

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// JoinConfig describes a regular join: an unbounded keyed inner join, as
// SQL's `a JOIN b ON a.k = b.k` over two streams without a time bound.
//
// Every record of one side is joined with the records of the other side
// that have the same key and arrived before it, then kept in keyed state for
// the records of the other side that arrive after it. Each matching pair is
// therefore emitted exactly once, by whichever of its two records arrives
// second, and kept records are never dropped (unless TTL forgets them): the
// state grows with the number of distinct records of both sides, as in
// Flink's regular joins.
type JoinConfig struct {
	// Combine builds the output value of a pair, appending it to dst.
	// Default: {"left":<left value>,"right":<right value>}, which is JSON
	// when both values are.
	Combine func(dst, key, left, right []byte) ([]byte, error)
	// TTL, when positive, forgets a kept record that long (processing time)
	// after it was stored, bounding the state of joins whose matches arrive
	// close together.
	TTL time.Duration
	// StateName prefixes the operator's keyed state names (default "join").
	StateName string
}

// ErrJoinState marks kept join records that cannot be decoded (state written
// by another operator under the same name, say).
var ErrJoinState = errors.New("corrupt join state")

// NewJoin validates cfg and returns a constructor of join operators
// (api.TwoInputOperator), one per subtask. They need keyed inputs.
func NewJoin(cfg JoinConfig) (func() (api.Operator, error), error) {
	if cfg.TTL < 0 {
		return nil, fmt.Errorf("join: TTL %s is negative", cfg.TTL)
	}
	if cfg.StateName == "" {
		cfg.StateName = "join"
	}
	if cfg.Combine == nil {
		cfg.Combine = combinePair
	}
	return func() (api.Operator, error) { return &Join{cfg: cfg}, nil }, nil
}

// combinePair is the default Combine: {"left":L,"right":R}.
func combinePair(dst, _, left, right []byte) ([]byte, error) {
	dst = append(dst, `{"left":`...)
	dst = append(dst, left...)
	dst = append(dst, `,"right":`...)
	dst = append(dst, right...)
	return append(dst, '}'), nil
}

// Join is one subtask of a regular join: input 0 (ProcessBatch) is the left
// side, input 1 (ProcessBatch2) the right. Kept records are list state
// entries of 8 bytes of timestamp (big-endian) followed by the value.
//
// An output record carries the join key, the later of the two timestamps
// (none when neither has one) and the headers of the record that completed
// the pair, so a marker a source put on that record reaches the sink.
type Join struct {
	api.BaseOperator
	cfg  JoinConfig
	name string
	ks   api.KeyedState
	kept [2]api.ListState

	// The record being joined, read by the matching callback.
	cur     *api.Record
	curSide int
	out     api.Output
	err     error
	match   func(v []byte) bool
	entry   []byte
	buf     []byte
	rec     api.Record
}

// Open declares the kept records of both sides.
func (j *Join) Open(ctx api.Context) error {
	j.name = ctx.OperatorName()
	j.ks = ctx.KeyedState()
	if j.ks == nil {
		return fmt.Errorf("join %q needs keyed inputs: add key-by", j.name)
	}
	for i, side := range [2]string{"left", "right"} {
		ls, err := j.ks.List(api.StateDescriptor{Name: j.cfg.StateName + "." + side, Kind: api.ListStateKind, TTL: j.cfg.TTL})
		if err != nil {
			return fmt.Errorf("join %q: declaring state: %w", j.name, err)
		}
		j.kept[i] = ls
	}
	j.match = j.matchKept
	return nil
}

// ProcessBatch joins the records of input 0, the left side.
func (j *Join) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		if err := j.process(&in.Records[i], 0, out); err != nil {
			return err
		}
	}
	return nil
}

// ProcessBatch2 joins the records of input 1, the right side.
func (j *Join) ProcessBatch2(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		if err := j.process(&in.Records[i], 1, out); err != nil {
			return err
		}
	}
	return nil
}

func (j *Join) process(r *api.Record, side int, out api.Output) error {
	j.ks.SetCurrentKey(r.Key)
	j.cur, j.curSide, j.out, j.err = r, side, out, nil
	err := j.kept[1-side].Iter(j.match)
	j.cur, j.out = nil, nil
	if err != nil {
		return fmt.Errorf("join %q: reading kept records: %w", j.name, err)
	}
	if j.err != nil {
		return j.err
	}
	j.entry = binary.BigEndian.AppendUint64(j.entry[:0], uint64(r.Timestamp))
	j.entry = append(j.entry, r.Value...)
	if err := j.kept[side].Add(j.entry); err != nil {
		return fmt.Errorf("join %q: keeping a record: %w", j.name, err)
	}
	return nil
}

// matchKept emits the pair of the current record and one kept record of
// the other side.
func (j *Join) matchKept(v []byte) bool {
	if len(v) < 8 {
		j.err = fmt.Errorf("join %q: %w: kept entry of %d bytes", j.name, ErrJoinState, len(v))
		return false
	}
	ts := int64(binary.BigEndian.Uint64(v))
	left, right := v[8:], j.cur.Value
	if j.curSide == 0 {
		left, right = right, left
	}
	var err error
	j.buf, err = j.cfg.Combine(j.buf[:0], j.cur.Key, left, right)
	if err != nil {
		j.err = fmt.Errorf("join %q: combining a pair: %w", j.name, err)
		return false
	}
	j.rec = api.Record{Key: j.cur.Key, Value: j.buf, Timestamp: max(ts, j.cur.Timestamp), Headers: j.cur.Headers}
	j.out.Emit(&j.rec)
	j.rec = api.Record{}
	return true
}

// registerJoin adds the `join` operator type to r.
func registerJoin(r *registry.Registry) {
	r.AddOperator("join", "keyed: regular (unbounded) inner join of two inputs, listed as inputs: [left, right]", buildJoin)
}

// buildJoin reads a job file's join:
//
//	operators:
//	  - name: sellers
//	    type: join
//	    inputs: [persons, auctions]   # the left input, then the right one
//	    key-by: key                   # both keyed by the join key
//	    ttl: 1h                       # optional: forget kept records after this long
//
// Output values are {"left":<left value>,"right":<right value>}.
func buildJoin(p *params.Params) (registry.Operator, error) {
	cfg := JoinConfig{TTL: p.Duration("ttl", 0)}
	if cfg.TTL < 0 {
		p.Errorf("ttl", "must not be negative")
	}
	if err := p.Err(); err != nil {
		return registry.Operator{}, err
	}
	newJoin, err := NewJoin(cfg)
	if err != nil {
		return registry.Operator{}, &params.Error{Pos: p.Pos(), Field: p.Path(), Msg: err.Error()}
	}
	return registry.Operator{Keyed: true, TwoInputs: true, New: newJoin}, nil
}
