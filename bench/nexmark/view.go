package nexmark

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/nexmark"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// ErrNotBinary is the category of records nexmark-view cannot read: they
// are not events of the nexmark source's binary format.
var ErrNotBinary = fmt.Errorf("%w: not a binary nexmark event (set format: binary on the nexmark source)", onerror.ErrMalformed)

// column is one column of a view: an integer or a string of the event.
type column struct {
	name string
	str  bool
	get  func(ev *nexmark.Event) (int64, []byte)
}

// typeColumn is the pseudo-column `type`: the view's name, as the source's
// JSON format spells it, so a union of views can tell its records apart.
const typeColumn = "type"

// columns lists each view's columns in the nexmark project's order.
var columns = map[nexmark.Kind][]column{
	nexmark.KindPerson: {
		{"id", false, func(e *nexmark.Event) (int64, []byte) { return e.Person.ID, nil }},
		{"name", true, func(e *nexmark.Event) (int64, []byte) { return 0, e.Person.Name }},
		{"emailAddress", true, func(e *nexmark.Event) (int64, []byte) { return 0, e.Person.EmailAddress }},
		{"creditCard", true, func(e *nexmark.Event) (int64, []byte) { return 0, e.Person.CreditCard }},
		{"city", true, func(e *nexmark.Event) (int64, []byte) { return 0, e.Person.City }},
		{"state", true, func(e *nexmark.Event) (int64, []byte) { return 0, e.Person.State }},
		{"dateTime", false, func(e *nexmark.Event) (int64, []byte) { return e.Person.DateTime, nil }},
		{"extra", true, func(e *nexmark.Event) (int64, []byte) { return 0, e.Person.Extra }},
	},
	nexmark.KindAuction: {
		{"id", false, func(e *nexmark.Event) (int64, []byte) { return e.Auction.ID, nil }},
		{"itemName", true, func(e *nexmark.Event) (int64, []byte) { return 0, e.Auction.ItemName }},
		{"description", true, func(e *nexmark.Event) (int64, []byte) { return 0, e.Auction.Description }},
		{"initialBid", false, func(e *nexmark.Event) (int64, []byte) { return e.Auction.InitialBid, nil }},
		{"reserve", false, func(e *nexmark.Event) (int64, []byte) { return e.Auction.Reserve, nil }},
		{"dateTime", false, func(e *nexmark.Event) (int64, []byte) { return e.Auction.DateTime, nil }},
		{"expires", false, func(e *nexmark.Event) (int64, []byte) { return e.Auction.Expires, nil }},
		{"seller", false, func(e *nexmark.Event) (int64, []byte) { return e.Auction.Seller, nil }},
		{"category", false, func(e *nexmark.Event) (int64, []byte) { return e.Auction.Category, nil }},
		{"extra", true, func(e *nexmark.Event) (int64, []byte) { return 0, e.Auction.Extra }},
	},
	nexmark.KindBid: {
		{"auction", false, func(e *nexmark.Event) (int64, []byte) { return e.Bid.Auction, nil }},
		{"bidder", false, func(e *nexmark.Event) (int64, []byte) { return e.Bid.Bidder, nil }},
		{"price", false, func(e *nexmark.Event) (int64, []byte) { return e.Bid.Price, nil }},
		{"channel", true, func(e *nexmark.Event) (int64, []byte) { return 0, e.Bid.Channel }},
		{"url", true, func(e *nexmark.Event) (int64, []byte) { return 0, e.Bid.URL }},
		{"dateTime", false, func(e *nexmark.Event) (int64, []byte) { return e.Bid.DateTime, nil }},
		{"extra", true, func(e *nexmark.Event) (int64, []byte) { return 0, e.Bid.Extra }},
	},
}

func kindColumn(k nexmark.Kind) column {
	name := []byte(k.String())
	return column{typeColumn, true, func(*nexmark.Event) (int64, []byte) { return 0, name }}
}

func findColumn(k nexmark.Kind, name string) (column, bool) {
	if name == typeColumn {
		return kindColumn(k), true
	}
	for _, c := range columns[k] {
		if c.name == name {
			return c, true
		}
	}
	return column{}, false
}

func columnNames(k nexmark.Kind) string {
	names := []string{typeColumn}
	for _, c := range columns[k] {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// readColumns reads the field `columns` of a node over events of kind k:
// the columns in the order given, every column of the view when absent.
// Mistakes are recorded in p.
func readColumns(p *params.Params, k nexmark.Kind) []column {
	if !p.Has("columns") {
		return columns[k]
	}
	var cols []column
	for _, name := range p.StringList("columns") {
		c, ok := findColumn(k, name)
		if !ok {
			p.Errorf("columns", "the %s view has no column %q (columns: %s)", k, name, columnNames(k))
			continue
		}
		cols = append(cols, c)
	}
	if len(cols) == 0 && p.Err() == nil {
		p.Errorf("columns", "is empty; leave it out for every column")
	}
	return cols
}

// viewConfig is a validated nexmark-view.
type viewConfig struct {
	kind    nexmark.Kind
	cols    []column
	key     *column
	format  rowFormat
	onError onerror.Policy
	// intBids: a bid view of integer columns only, which decodeBidInts can
	// read; idx are the columns' and keyIdx the key's indices in bidInts
	// (keyIdx -1: no key).
	intBids bool
	idx     []int
	keyIdx  int
}

// buildView reads a nexmark-view node:
//
//	operators:
//	  - name: bids
//	    type: nexmark-view
//	    view: bid                     # person | auction | bid
//	    columns: [auction, price]     # default: every column, in the view's order
//	    key: auction                  # optional: an integer column, the record key (decimal)
//	    format: json                  # json: {"auction":1007,"price":2139}; csv: 1007,2139;
//	                                  # binary: integer columns only, 8 bytes each, little-endian
func buildView(probe *Probe) registry.OperatorBuilder {
	return func(p *params.Params) (registry.Operator, error) {
		cfg := readView(p)
		cfg.onError = onerror.FromParams(p, "")
		if err := p.Err(); err != nil {
			return registry.Operator{}, err
		}
		return registry.Operator{New: func() (api.Operator, error) { return &view{cfg: cfg, probe: probe}, nil }}, nil
	}
}

// readView reads a view's fields (view, columns, key, format); mistakes
// are recorded in p.
func readView(p *params.Params) viewConfig {
	var cfg viewConfig
	switch p.Enum("view", "", "person", "auction", "bid") {
	case "person":
		cfg.kind = nexmark.KindPerson
	case "auction":
		cfg.kind = nexmark.KindAuction
	case "bid":
		cfg.kind = nexmark.KindBid
	default:
		p.Required("view")
	}
	cfg.cols = readColumns(p, cfg.kind)
	if p.Has("key") {
		name := p.String("key", "")
		c, ok := findColumn(cfg.kind, name)
		switch {
		case !ok:
			p.Errorf("key", "the %s view has no column %q (columns: %s)", cfg.kind, name, columnNames(cfg.kind))
		case c.str:
			p.Errorf("key", "column %q is a string; key by an integer column", name)
		default:
			cfg.key = &c
		}
	}
	switch p.Enum("format", "json", "json", "csv", "binary") {
	case "csv":
		cfg.format = formatCSV
	case "binary":
		cfg.format = formatBinary
		for _, c := range cfg.cols {
			if c.str {
				p.Errorf("format", "column %q is a string; the binary format holds integer columns only", c.name)
				break
			}
		}
	}
	cfg.intBids = cfg.kind == nexmark.KindBid && !slices.ContainsFunc(cfg.cols, func(c column) bool { return c.str })
	if cfg.intBids {
		for _, c := range cfg.cols {
			cfg.idx = append(cfg.idx, bidIntIndex[c.name])
		}
		cfg.keyIdx = -1
		if cfg.key != nil {
			cfg.keyIdx = bidIntIndex[cfg.key.name]
		}
	}
	return cfg
}

// buildRows reads a nexmark-rows source: the nexmark source's fields but
// format, and a view's (view, columns, key, format), pushed into the
// source:
//
//	sources:
//	  - name: bids
//	    type: nexmark-rows
//	    events: 10000000
//	    view: bid
//	    columns: [auction]
//	    key: auction
//
// emits what a nexmark source with format binary followed by that
// nexmark-view emits, without encoding every event whole and decoding it
// again (Flink's projection push-down into a source).
func buildRows(probe *Probe) registry.SourceBuilder {
	return func(p *params.Params) (func() (api.Source, error), error) {
		cfg := readView(p)
		return nexmark.BuildWith(p, func() nexmark.Encoder { return &rowsEncoder{cfg: cfg, probe: probe, maxTS: api.MinWatermark} })
	}
}

// rowsEncoder is a view inside the nexmark source (nexmark-rows): it
// emits the rows of its view's events, stamped for the probe as a view
// stamps them.
type rowsEncoder struct {
	cfg      viewConfig
	probe    *Probe
	key, buf []byte
	stamps   stamper
	rec      api.Record
	maxTS    int64
	log      *emitLog
}

func (e *rowsEncoder) Open(ctx api.Context) error {
	e.stamps.init(e.probe)
	if e.probe != nil {
		e.log = e.probe.emitLog(ctx.OperatorName(), ctx.Subtask())
	}
	return nil
}

func (e *rowsEncoder) Encode(ev *nexmark.Event, out api.SourceContext) {
	ts := ev.Timestamp()
	e.maxTS = max(e.maxTS, ts)
	if ev.Kind != e.cfg.kind {
		return
	}
	e.buf = appendRow(e.buf[:0], e.cfg.cols, ev, e.cfg.format)
	var key []byte
	if e.cfg.key != nil {
		n, _ := e.cfg.key.get(ev)
		e.key = strconv.AppendInt(e.key[:0], n, 10)
		key = e.key
	}
	stamp := e.stamps.next()
	if stamp == nil {
		out.CollectWithTimestamp(key, e.buf, ts)
		return
	}
	e.rec = api.Record{Key: key, Value: e.buf, Timestamp: ts, Headers: stamp}
	out.CollectRecord(&e.rec)
	e.rec = api.Record{}
}

func (e *rowsEncoder) Polled() {
	if e.log != nil && e.maxTS > api.MinWatermark {
		e.log.add(e.maxTS, time.Now().UnixNano())
	}
}

// StampHeader is the header a nexmark-view puts on the records it stamps
// for latency: the wall-clock time it emitted them, as 8 bytes of Unix
// nanoseconds (big-endian).
const StampHeader = "nexmark-emitted"

// view is one subtask of nexmark-view. It reads each event's first byte
// (its kind) before decoding, so events of other views cost a byte
// comparison.
type view struct {
	api.BaseOperator
	cfg   viewConfig
	probe *Probe

	bad      *onerror.Handler
	ev       nexmark.Event
	ints     bidInts
	key, buf []byte
	stamps   stamper
	rec      api.Record
	log      *emitLog
}

func (v *view) Open(ctx api.Context) error {
	bad, err := v.cfg.onError.NewHandler(ctx)
	if err != nil {
		return fmt.Errorf("nexmark-view %q: %w", ctx.OperatorName(), err)
	}
	v.bad = bad
	v.stamps.init(v.probe)
	if v.probe != nil {
		v.log = v.probe.emitLog(ctx.OperatorName(), ctx.Subtask())
	}
	return nil
}

func (v *view) Close() error { return v.bad.Close() }

func (v *view) ProcessBatch(in *api.Batch, out api.Output) error {
	maxTS := int64(api.MinWatermark)
	for i := range in.Records {
		r := &in.Records[i]
		maxTS = max(maxTS, r.Timestamp)
		if len(r.Value) == 0 || r.Value[0] > byte(nexmark.KindBid) {
			if err := v.bad.Handle(position(r), r.Value, ErrNotBinary); err != nil {
				return err
			}
			continue
		}
		if nexmark.Kind(r.Value[0]) != v.cfg.kind {
			continue
		}
		if v.cfg.intBids && decodeBidInts(r.Value, &v.ints) {
			v.emitInts(r, out)
			continue
		}
		if err := nexmark.DecodeBinary(r.Value, &v.ev); err != nil {
			if err := v.bad.Handle(position(r), r.Value, fmt.Errorf("%w: %w", onerror.ErrMalformed, err)); err != nil {
				return err
			}
			continue
		}
		v.emit(r, out)
	}
	if v.log != nil && len(in.Records) > 0 {
		v.log.add(maxTS, time.Now().UnixNano())
	}
	return nil
}

func (v *view) emit(r *api.Record, out api.Output) {
	v.buf = appendRow(v.buf[:0], v.cfg.cols, &v.ev, v.cfg.format)
	v.rec = api.Record{Value: v.buf, Timestamp: r.Timestamp, Headers: r.Headers}
	if v.cfg.key != nil {
		n, _ := v.cfg.key.get(&v.ev)
		v.key = strconv.AppendInt(v.key[:0], n, 10)
		v.rec.Key = v.key
	}
	v.send(out)
}

// emitInts emits the row of the bid whose integers v.ints holds (a view
// with intBids).
func (v *view) emitInts(r *api.Record, out api.Output) {
	if v.cfg.format == formatBinary && v.cfg.keyIdx < 0 {
		if a, ok := out.(arenaOutput); ok && !v.stamps.due() {
			// Written in place in the output's arena; the headers are the
			// input record's, which outlives the output (api.ViewEmitter).
			row := a.Alloc(8 * len(v.cfg.idx))
			for j, k := range v.cfg.idx {
				binary.LittleEndian.PutUint64(row[8*j:], uint64(v.ints[k]))
			}
			v.stamps.next() // not due (checked above): it only counts the row
			v.rec = api.Record{Value: row, Timestamp: r.Timestamp, Headers: r.Headers}
			a.EmitView(&v.rec)
			v.rec = api.Record{}
			return
		}
	}
	if v.cfg.format == formatBinary {
		v.buf = v.buf[:0]
		for _, k := range v.cfg.idx {
			v.buf = binary.LittleEndian.AppendUint64(v.buf, uint64(v.ints[k]))
		}
	} else {
		v.ev.Kind = nexmark.KindBid
		v.ev.Bid = nexmark.Bid{Auction: v.ints[0], Bidder: v.ints[1], Price: v.ints[2], DateTime: v.ints[3]}
		v.buf = appendRow(v.buf[:0], v.cfg.cols, &v.ev, v.cfg.format)
	}
	v.rec = api.Record{Value: v.buf, Timestamp: r.Timestamp, Headers: r.Headers}
	if v.cfg.keyIdx >= 0 {
		v.key = strconv.AppendInt(v.key[:0], v.ints[v.cfg.keyIdx], 10)
		v.rec.Key = v.key
	}
	v.send(out)
}

// arenaOutput is an Output that lends its arena (an api.Batch, as the
// runtime's outputs are): a row built in it is emitted without a copy.
type arenaOutput interface {
	api.ViewEmitter
	Alloc(n int) []byte
}

// send stamps every stampEvery-th row for the probe and emits v.rec.
func (v *view) send(out api.Output) {
	if stamp := v.stamps.next(); stamp != nil {
		v.rec.Headers = stamp
	}
	out.Emit(&v.rec)
	v.rec = api.Record{}
}

// stamper stamps every probe.stampEvery-th row a view emits (in an
// operator or pushed into the source) with the time it was emitted.
type stamper struct {
	probe *Probe
	n     int64 // rows counted so far
	stamp [1]api.Header
	buf   [8]byte
}

func (s *stamper) init(probe *Probe) {
	s.probe = probe
	s.stamp[0].Key = []byte(StampHeader)
}

// due reports whether the next row is one to stamp.
func (s *stamper) due() bool {
	return s.probe != nil && s.probe.stampEvery > 0 && (s.n+1)%s.probe.stampEvery == 0
}

// next counts a row and returns its stamp header, or nil when it is not
// one to stamp. The header is valid until the next call.
func (s *stamper) next() []api.Header {
	due := s.due()
	s.n++
	if !due {
		return nil
	}
	binary.BigEndian.PutUint64(s.buf[:], uint64(time.Now().UnixNano()))
	s.stamp[0].Value = s.buf[:]
	return s.stamp[:]
}

// rowFormat is how a view encodes its rows.
type rowFormat uint8

const (
	// formatJSON: {"auction":1007,"price":2139}.
	formatJSON rowFormat = iota
	// formatCSV: 1007,2139 (no line break).
	formatCSV
	// formatBinary: each column as a little-endian int64, 8 bytes; string
	// columns are not allowed (buildView refuses them). The nexmark plugins
	// read bids of four columns in this form (format: binary).
	formatBinary
)

// appendRow appends the columns cols of ev to dst as a row of format f.
func appendRow(dst []byte, cols []column, ev *nexmark.Event, f rowFormat) []byte {
	switch f {
	case formatBinary:
		for _, c := range cols {
			n, _ := c.get(ev)
			dst = binary.LittleEndian.AppendUint64(dst, uint64(n))
		}
		return dst
	case formatCSV:
		for i, c := range cols {
			if i > 0 {
				dst = append(dst, ',')
			}
			n, s := c.get(ev)
			if c.str {
				dst = appendCSV(dst, s)
			} else {
				dst = strconv.AppendInt(dst, n, 10)
			}
		}
		return dst
	}
	dst = append(dst, '{')
	for i, c := range cols {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, c.name...)
		dst = append(dst, '"', ':')
		n, s := c.get(ev)
		if c.str {
			dst = jsonpath.AppendString(dst, s)
		} else {
			dst = strconv.AppendInt(dst, n, 10)
		}
	}
	return append(dst, '}')
}

// bidInts are the integer fields of a bid, in the order of the binary
// encoding: auction, bidder, price, dateTime.
type bidInts [4]int64

// bidIntIndex is the index in bidInts of each integer column of a bid.
var bidIntIndex = map[string]int{"auction": 0, "bidder": 1, "price": 2, "dateTime": 3}

// decodeBidInts reads the integer fields of src, a bid in the source's
// binary encoding; false when src is not a well-formed bid
// (nexmark.DecodeBinary then says why). It checks what DecodeBinary does,
// the kind, every field and no trailing bytes, but keeps no string, which
// makes it about twice as fast: the bid views of integer columns (q1's,
// q2's) read every bid with it.
func decodeBidInts(src []byte, f *bidInts) bool {
	if len(src) == 0 || nexmark.Kind(src[0]) != nexmark.KindBid {
		return false
	}
	i, k := 1, 0
	// auction, bidder, price, channel, url, dateTime, extra: the strings
	// (3, 4, 6) are skipped.
	for field := range 7 {
		// A uvarint, as encoding/binary.Uvarint reads it (inlined: this
		// loop is the view's cost per bid).
		var x uint64
		for s := uint(0); ; s += 7 {
			if i >= len(src) {
				return false
			}
			c := src[i]
			i++
			if c < 0x80 {
				if s == 63 && c > 1 {
					return false
				}
				x |= uint64(c) << s
				break
			}
			if s == 63 {
				return false
			}
			x |= uint64(c&0x7f) << s
		}
		if field == 3 || field == 4 || field == 6 {
			if x > uint64(len(src)-i) {
				return false
			}
			i += int(x)
			continue
		}
		f[k] = int64(x>>1) ^ -int64(x&1) // zig-zag
		k++
	}
	return i == len(src)
}

// appendCSV appends s as a CSV field, quoted as in RFC 4180 when it holds a
// comma, a quote or a line break.
func appendCSV(dst, s []byte) []byte {
	quote := false
	for _, c := range s {
		if c == ',' || c == '"' || c == '\n' || c == '\r' {
			quote = true
			break
		}
	}
	if !quote {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for _, c := range s {
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// position names a record in a bad-record report.
func position(r *api.Record) string {
	if r.HasTimestamp() {
		return "event at " + strconv.FormatInt(r.Timestamp, 10)
	}
	return "event"
}

// stampOf returns the stamp a nexmark-view put on r.
func stampOf(r *api.Record) (int64, bool) {
	for _, h := range r.Headers {
		if len(h.Value) == 8 && string(h.Key) == StampHeader {
			return int64(binary.BigEndian.Uint64(h.Value)), true
		}
	}
	return 0, false
}
