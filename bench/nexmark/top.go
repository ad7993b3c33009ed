package nexmark

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/windows"
)

// ErrCorruptState marks operator state this package cannot decode.
var ErrCorruptState = errors.New("corrupt nexmark operator state")

var (
	errNoNumber    = fmt.Errorf("%w: the field is missing or not a number", onerror.ErrMalformed)
	errNoEventTime = fmt.Errorf("%w: record has no event time (assign timestamps and watermarks upstream)", onerror.ErrMalformed)
)

// numField reads the number at path of a JSON record.
func numField(path jsonpath.Path, v []byte) (jsonpath.Num, bool) {
	b, k := path.Get(v)
	if k != jsonpath.Number {
		return jsonpath.Num{}, false
	}
	return jsonpath.ParseNum(b)
}

// numLen is the size of an encoded number: a flag byte (1: float) and 8 bytes.
const numLen = 9

func appendNum(dst []byte, n jsonpath.Num) []byte {
	if n.IsFloat {
		return binary.BigEndian.AppendUint64(append(dst, 1), math.Float64bits(n.Float))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0), uint64(n.Int))
}

func decodeNum(b []byte) jsonpath.Num {
	bits := binary.BigEndian.Uint64(b[1:numLen])
	if b[0] == 1 {
		return jsonpath.Num{Float: math.Float64frombits(bits), IsFloat: true}
	}
	return jsonpath.Num{Int: int64(bits)}
}

// appendRecords appends values as uvarint-length-prefixed byte strings.
func appendValue(dst, v []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(v))), v...)
}

// eachValue calls fn for every length-prefixed value of b.
func eachValue(b []byte, fn func(v []byte)) error {
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return fmt.Errorf("%w: malformed list of kept records", ErrCorruptState)
		}
		fn(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	return nil
}

// topConfig is a validated top or window-top.
type topConfig struct {
	field   jsonpath.Path
	size    int64 // window-top: the tumbling window size in ms
	onError onerror.Policy
}

func readTop(p *params.Params, windowed bool) (topConfig, error) {
	var cfg topConfig
	if p.Required("field") {
		path, err := jsonpath.Parse(p.String("field", ""))
		if err != nil {
			p.Errorf("field", "%v", err)
		}
		cfg.field = path
	}
	if windowed && p.Required("size") {
		d := p.Duration("size", time.Second)
		if d < time.Millisecond {
			p.Errorf("size", "must be at least 1ms")
		}
		cfg.size = d.Milliseconds()
	}
	cfg.onError = onerror.FromParams(p, "")
	return cfg, p.Err()
}

// buildTop reads a top node:
//
//	operators:
//	  - name: hottest
//	    type: top
//	    key-by: {field: end}   # e.g. a window's end: one key per window
//	    field: count           # keep the records with the largest count
func buildTop(p *params.Params) (registry.Operator, error) {
	cfg, err := readTop(p, false)
	if err != nil {
		return registry.Operator{}, err
	}
	return registry.Operator{Keyed: true, New: func() (api.Operator, error) { return &top{cfg: cfg}, nil }}, nil
}

// top is one subtask of the top operator: for each key and event time, it
// keeps the records with the largest value of a JSON number field (all of
// them on a tie) in keyed state under the timestamp as namespace, and emits
// them, with the key and the timestamp, when the watermark passes the
// timestamp. Records at or behind the watermark are late: dropped and
// counted in numLateRecordsDropped.
//
// State value: the largest number (numLen bytes), then the kept records'
// values, each uvarint-length-prefixed.
type top struct {
	api.BaseOperator
	cfg    topConfig
	name   string
	ks     api.KeyedState
	vs     api.ValueState
	timers api.TimerService
	bad    *onerror.Handler
	late   api.Counter
	ns     [8]byte
	buf    []byte
	rec    api.Record
	out    api.Output
	emitFn func(v []byte)
}

func (t *top) Open(ctx api.Context) error {
	t.name = ctx.OperatorName()
	t.ks, t.timers = ctx.KeyedState(), ctx.Timers()
	if t.ks == nil || t.timers == nil {
		return fmt.Errorf("top %q needs a keyed input: add key-by", t.name)
	}
	vs, err := t.ks.Value(api.StateDescriptor{Name: "top", Kind: api.ValueStateKind})
	if err != nil {
		return fmt.Errorf("top %q: declaring state: %w", t.name, err)
	}
	t.vs = vs
	if t.bad, err = t.cfg.onError.NewHandler(ctx); err != nil {
		return fmt.Errorf("top %q: %w", t.name, err)
	}
	t.late = ctx.Counter(windows.LateDroppedCounter)
	t.emitFn = t.emitKept
	return nil
}

func (t *top) Close() error { return t.bad.Close() }

func (t *top) ProcessBatch(in *api.Batch, _ api.Output) error {
	for i := range in.Records {
		if err := t.add(&in.Records[i]); err != nil {
			return err
		}
	}
	return nil
}

func (t *top) add(r *api.Record) error {
	if !r.HasTimestamp() {
		return t.bad.Handle(position(r), r.Value, errNoEventTime)
	}
	n, ok := numField(t.cfg.field, r.Value)
	if !ok {
		return t.bad.Handle(position(r), r.Value, fmt.Errorf("top field %s: %w", t.cfg.field, errNoNumber))
	}
	if r.Timestamp <= t.timers.CurrentWatermark() {
		t.late.Add(1)
		return nil
	}
	t.ks.SetCurrentKey(r.Key)
	binary.BigEndian.PutUint64(t.ns[:], uint64(r.Timestamp))
	t.ks.SetCurrentNamespace(t.ns[:])
	defer t.ks.SetCurrentNamespace(nil)
	old, found, err := t.vs.Get()
	if err != nil {
		return fmt.Errorf("top %q: reading state: %w", t.name, err)
	}
	switch {
	case !found:
		if err := t.timers.RegisterEventTimeTimer(r.Timestamp); err != nil {
			return fmt.Errorf("top %q: %w", t.name, err)
		}
		t.buf = appendValue(appendNum(t.buf[:0], n), r.Value)
	case len(old) < numLen:
		return fmt.Errorf("top %q: %w: value of %d bytes", t.name, ErrCorruptState, len(old))
	default:
		switch c := n.Compare(decodeNum(old)); {
		case c < 0:
			return nil
		case c == 0:
			t.buf = appendValue(append(t.buf[:0], old...), r.Value)
		default:
			t.buf = appendValue(appendNum(t.buf[:0], n), r.Value)
		}
	}
	if err := t.vs.Put(t.buf); err != nil {
		return fmt.Errorf("top %q: writing state: %w", t.name, err)
	}
	return nil
}

// OnTimer emits the records kept for the timer's key and time.
func (t *top) OnTimer(tm api.Timer, out api.Output) error {
	v, found, err := t.vs.Get()
	if err != nil {
		return fmt.Errorf("top %q: reading state: %w", t.name, err)
	}
	if !found {
		return nil
	}
	if len(v) < numLen {
		return fmt.Errorf("top %q: %w: value of %d bytes", t.name, ErrCorruptState, len(v))
	}
	t.rec = api.Record{Key: tm.Key, Timestamp: tm.Timestamp}
	t.out = out
	err = eachValue(v[numLen:], t.emitFn)
	t.rec, t.out = api.Record{}, nil
	if err != nil {
		return fmt.Errorf("top %q: %w", t.name, err)
	}
	return t.vs.Clear()
}

func (t *top) emitKept(v []byte) {
	t.rec.Value = v
	t.out.Emit(&t.rec)
}

// buildWindowTop reads a window-top node:
//
//	operators:
//	  - name: local-max
//	    type: window-top
//	    size: 10s       # tumbling windows of event time
//	    field: price    # keep the records with the largest price per window
func buildWindowTop(p *params.Params) (registry.Operator, error) {
	cfg, err := readTop(p, true)
	if err != nil {
		return registry.Operator{}, err
	}
	return registry.Operator{New: func() (api.Operator, error) {
		return &windowTop{cfg: cfg, wins: map[int64]*partialTop{}, wm: api.MinWatermark}, nil
	}}, nil
}

// windowTop is one subtask of window-top, the local half of a two-phase
// maximum per tumbling window (Flink calls it local-global aggregation): it
// needs no key, keeps in memory the records with the largest value of the
// field per window among those its subtask saw, and emits them when the
// watermark passes the window's end, keyed by the window's end (decimal)
// and stamped end - 1, for a top keyed by that key to merge the subtasks'
// candidates. Its windows are operator state, checkpointed and split over
// the subtasks on a rescale (any subtask can hold any window's candidates).
type windowTop struct {
	api.BaseOperator
	cfg   topConfig
	name  string
	bad   *onerror.Handler
	late  api.Counter
	wins  map[int64]*partialTop // by window start
	free  []*partialTop
	wm    int64
	due   []int64
	key   []byte
	rec   api.Record
	state []byte
}

// partialTop is one window's candidates: the largest number and the
// records that have it (copies, reused across windows).
type partialTop struct {
	max  jsonpath.Num
	recs [][]byte
	n    int
}

func (p *partialTop) keep(n jsonpath.Num, v []byte) {
	if p.n == len(p.recs) {
		p.recs = append(p.recs, nil)
	}
	p.recs[p.n] = append(p.recs[p.n][:0], v...)
	p.n++
	p.max = n
}

// offer adds v with number n to the candidates.
func (p *partialTop) offer(n jsonpath.Num, v []byte) {
	if p.n > 0 {
		switch c := n.Compare(p.max); {
		case c < 0:
			return
		case c > 0:
			p.n = 0
		}
	}
	p.keep(n, v)
}

func (w *windowTop) Open(ctx api.Context) error {
	w.name = ctx.OperatorName()
	bad, err := w.cfg.onError.NewHandler(ctx)
	if err != nil {
		return fmt.Errorf("window-top %q: %w", w.name, err)
	}
	w.bad = bad
	w.late = ctx.Counter(windows.LateDroppedCounter)
	return nil
}

func (w *windowTop) Close() error { return w.bad.Close() }

func (w *windowTop) window(start int64) *partialTop {
	p := w.wins[start]
	if p == nil {
		if n := len(w.free); n > 0 {
			p, w.free = w.free[n-1], w.free[:n-1]
			p.n = 0
		} else {
			p = &partialTop{}
		}
		w.wins[start] = p
	}
	return p
}

func (w *windowTop) ProcessBatch(in *api.Batch, _ api.Output) error {
	for i := range in.Records {
		r := &in.Records[i]
		if !r.HasTimestamp() {
			if err := w.bad.Handle(position(r), r.Value, errNoEventTime); err != nil {
				return err
			}
			continue
		}
		n, ok := numField(w.cfg.field, r.Value)
		if !ok {
			if err := w.bad.Handle(position(r), r.Value, fmt.Errorf("window-top field %s: %w", w.cfg.field, errNoNumber)); err != nil {
				return err
			}
			continue
		}
		start := r.Timestamp - floorMod(r.Timestamp, w.cfg.size)
		if start+w.cfg.size-1 <= w.wm {
			w.late.Add(1)
			continue
		}
		w.window(start).offer(n, r.Value)
	}
	return nil
}

func floorMod(x, m int64) int64 {
	r := x % m
	if r < 0 {
		r += m
	}
	return r
}

// ProcessWatermark emits the candidates of the windows wm closes, oldest
// window first.
func (w *windowTop) ProcessWatermark(wm int64, out api.Output) error {
	w.wm = wm
	w.due = w.due[:0]
	for start := range w.wins {
		if start+w.cfg.size-1 <= wm {
			w.due = append(w.due, start)
		}
	}
	slices.Sort(w.due)
	for _, start := range w.due {
		p := w.wins[start]
		end := start + w.cfg.size
		w.key = strconv.AppendInt(w.key[:0], end, 10)
		for _, v := range p.recs[:p.n] {
			w.rec = api.Record{Key: w.key, Value: v, Timestamp: end - 1}
			out.Emit(&w.rec)
		}
		delete(w.wins, start)
		w.free = append(w.free, p)
	}
	w.rec = api.Record{}
	return nil
}

// SnapshotState writes one entry per open window: its start (varint), the
// largest number, then the candidates, length-prefixed.
func (w *windowTop) SnapshotState(int64) ([][]byte, error) {
	entries := make([][]byte, 0, len(w.wins))
	for start, p := range w.wins {
		b := appendNum(binary.AppendVarint(nil, start), p.max)
		for _, v := range p.recs[:p.n] {
			b = appendValue(b, v)
		}
		entries = append(entries, b)
	}
	return entries, nil
}

// RestoreState merges the candidates of the entries given to this subtask.
func (w *windowTop) RestoreState(entries [][]byte) error {
	for _, e := range entries {
		start, k := binary.Varint(e)
		if k <= 0 || len(e)-k < numLen {
			return fmt.Errorf("window-top: %w: malformed checkpoint entry", ErrCorruptState)
		}
		n := decodeNum(e[k:])
		p := w.window(start)
		if err := eachValue(e[k+numLen:], func(v []byte) { p.offer(n, v) }); err != nil {
			return fmt.Errorf("window-top: %w", err)
		}
	}
	return nil
}

// StateDistribution spreads windows over the subtasks on a rescale.
func (w *windowTop) StateDistribution() api.Distribution { return api.SplitDistribution }
