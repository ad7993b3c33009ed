package nexmark

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/nexmark"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/windows"
)

// bidTopConfig is a validated bid-top.
type bidTopConfig struct {
	size    int64 // tumbling window size in ms
	cols    []column
	onError onerror.Policy
}

// buildBidTop reads a bid-top node:
//
//	operators:
//	  - name: local-max
//	    type: bid-top
//	    size: 10s                     # tumbling windows of event time
//	    columns: [auction, price]     # of the rows it emits (JSON, as the bid view's); default: every column
func buildBidTop(probe *Probe) registry.OperatorBuilder {
	return func(p *params.Params) (registry.Operator, error) {
		var cfg bidTopConfig
		if p.Required("size") {
			d := p.Duration("size", time.Second)
			if d < time.Millisecond {
				p.Errorf("size", "must be at least 1ms")
			}
			cfg.size = d.Milliseconds()
		}
		cfg.cols = readColumns(p, nexmark.KindBid)
		cfg.onError = onerror.FromParams(p, "")
		if err := p.Err(); err != nil {
			return registry.Operator{}, err
		}
		return registry.Operator{New: func() (api.Operator, error) {
			return &bidTop{cfg: cfg, probe: probe, wins: map[int64]*bidWindow{}, wm: api.MinWatermark}, nil
		}}, nil
	}
}

// bidTop is one subtask of bid-top: q7's local maximum (the first half of
// a two-phase top, as window-top) read straight from the nexmark source's
// binary events. Per tumbling event-time window it keeps the bids with the
// highest price its subtask saw and, when the watermark passes the window's
// end, emits them as rows of the bid view (JSON), keyed by the window's end
// (decimal) and stamped end - 1, for a top keyed by that key to merge the
// subtasks' candidates.
//
// What makes it cheap: it reads a bid's price from the first three varints
// of the event, and decodes the whole event and encodes its row only for a
// bid that is (so far) a candidate; every other event costs a byte
// comparison or three varint reads. Like nexmark-view, it logs how far in
// event time it has read for the probe's event-time latency.
//
// Its windows are operator state, checkpointed and split over the subtasks
// on a rescale (any subtask can hold any window's candidates).
type bidTop struct {
	api.BaseOperator
	cfg   bidTopConfig
	probe *Probe
	name  string
	bad   *onerror.Handler
	late  api.Counter
	log   *emitLog
	ev    nexmark.Event
	wins  map[int64]*bidWindow // by window start
	free  []*bidWindow
	// cur is the window of curStart, the last one a bid went to (nil: none).
	cur      *bidWindow
	curStart int64
	wm       int64
	due      []int64
	key      []byte
	rec      api.Record
}

// bidWindow is one window's candidates: the highest price and the rows of
// the bids that have it (buffers reused across windows).
type bidWindow struct {
	max  int64
	rows [][]byte
	n    int
}

// slot returns a row buffer for a new candidate at price, dropping the
// current candidates when price is higher.
func (w *bidWindow) slot(price int64) *[]byte {
	if w.n > 0 && price > w.max {
		w.n = 0
	}
	w.max = price
	if w.n == len(w.rows) {
		w.rows = append(w.rows, nil)
	}
	w.n++
	return &w.rows[w.n-1]
}

// wants reports whether a bid at price is a candidate.
func (w *bidWindow) wants(price int64) bool { return w.n == 0 || price >= w.max }

func (b *bidTop) Open(ctx api.Context) error {
	b.name = ctx.OperatorName()
	bad, err := b.cfg.onError.NewHandler(ctx)
	if err != nil {
		return fmt.Errorf("bid-top %q: %w", b.name, err)
	}
	b.bad = bad
	b.late = ctx.Counter(windows.LateDroppedCounter)
	if b.probe != nil {
		b.log = b.probe.emitLog(b.name, ctx.Subtask())
	}
	return nil
}

func (b *bidTop) Close() error { return b.bad.Close() }

func (b *bidTop) window(start int64) *bidWindow {
	if b.cur != nil && b.curStart == start {
		return b.cur
	}
	w := b.wins[start]
	if w == nil {
		if n := len(b.free); n > 0 {
			w, b.free = b.free[n-1], b.free[:n-1]
			w.n = 0
		} else {
			w = &bidWindow{}
		}
		b.wins[start] = w
	}
	b.cur, b.curStart = w, start
	return w
}

// bidPrice reads the price of a binary bid event: the third varint after
// the kind byte.
func bidPrice(v []byte) (int64, bool) {
	v = v[1:]
	for range 2 {
		_, k := binary.Varint(v)
		if k <= 0 {
			return 0, false
		}
		v = v[k:]
	}
	p, k := binary.Varint(v)
	return p, k > 0
}

func (b *bidTop) ProcessBatch(in *api.Batch, _ api.Output) error {
	maxTS := int64(api.MinWatermark)
	for i := range in.Records {
		r := &in.Records[i]
		if len(r.Value) == 0 || r.Value[0] > byte(nexmark.KindBid) {
			if err := b.bad.Handle(position(r), r.Value, ErrNotBinary); err != nil {
				return err
			}
			continue
		}
		if nexmark.Kind(r.Value[0]) != nexmark.KindBid {
			continue
		}
		if !r.HasTimestamp() {
			if err := b.bad.Handle(position(r), r.Value, errNoEventTime); err != nil {
				return err
			}
			continue
		}
		maxTS = max(maxTS, r.Timestamp)
		price, ok := bidPrice(r.Value)
		if !ok {
			if err := b.bad.Handle(position(r), r.Value, fmt.Errorf("%w: %w: bad varint before the price", onerror.ErrMalformed, nexmark.ErrCorrupt)); err != nil {
				return err
			}
			continue
		}
		start := r.Timestamp - floorMod(r.Timestamp, b.cfg.size)
		if start+b.cfg.size-1 <= b.wm {
			b.late.Add(1)
			continue
		}
		w := b.window(start)
		if !w.wants(price) {
			continue
		}
		if err := nexmark.DecodeBinary(r.Value, &b.ev); err != nil {
			if err := b.bad.Handle(position(r), r.Value, fmt.Errorf("%w: %w", onerror.ErrMalformed, err)); err != nil {
				return err
			}
			continue
		}
		row := w.slot(price)
		*row = appendRow((*row)[:0], b.cfg.cols, &b.ev, formatJSON)
	}
	if b.log != nil && maxTS != api.MinWatermark {
		b.log.add(maxTS, time.Now().UnixNano())
	}
	return nil
}

// ProcessWatermark emits the candidates of the windows wm closes, oldest
// window first.
func (b *bidTop) ProcessWatermark(wm int64, out api.Output) error {
	b.wm = wm
	b.due = b.due[:0]
	for start := range b.wins {
		if start+b.cfg.size-1 <= wm {
			b.due = append(b.due, start)
		}
	}
	slices.Sort(b.due)
	for _, start := range b.due {
		w := b.wins[start]
		end := start + b.cfg.size
		b.key = strconv.AppendInt(b.key[:0], end, 10)
		for _, v := range w.rows[:w.n] {
			b.rec = api.Record{Key: b.key, Value: v, Timestamp: end - 1}
			out.Emit(&b.rec)
		}
		delete(b.wins, start)
		b.free = append(b.free, w)
		if w == b.cur {
			b.cur = nil
		}
	}
	b.rec = api.Record{}
	return nil
}

// SnapshotState writes one entry per open window: its start and highest
// price (varints), then the candidates' rows, each uvarint-length-prefixed.
func (b *bidTop) SnapshotState(int64) ([][]byte, error) {
	entries := make([][]byte, 0, len(b.wins))
	for start, w := range b.wins {
		if w.n == 0 {
			continue
		}
		e := binary.AppendVarint(binary.AppendVarint(nil, start), w.max)
		for _, v := range w.rows[:w.n] {
			e = append(binary.AppendUvarint(e, uint64(len(v))), v...)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// RestoreState merges the candidates of the entries given to this subtask.
func (b *bidTop) RestoreState(entries [][]byte) error {
	for _, e := range entries {
		start, k := binary.Varint(e)
		if k <= 0 {
			return fmt.Errorf("bid-top: %w: malformed checkpoint entry", ErrCorruptState)
		}
		e = e[k:]
		price, k := binary.Varint(e)
		if k <= 0 {
			return fmt.Errorf("bid-top: %w: malformed checkpoint entry", ErrCorruptState)
		}
		e = e[k:]
		w := b.window(start)
		for len(e) > 0 {
			n, k := binary.Uvarint(e)
			if k <= 0 || n > uint64(len(e)-k) {
				return fmt.Errorf("bid-top: %w: malformed list of kept rows", ErrCorruptState)
			}
			if w.wants(price) {
				row := w.slot(price)
				*row = append((*row)[:0], e[k:k+int(n)]...)
			}
			e = e[k+int(n):]
		}
	}
	return nil
}

// StateDistribution spreads windows over the subtasks on a rescale.
func (b *bidTop) StateDistribution() api.Distribution { return api.SplitDistribution }
