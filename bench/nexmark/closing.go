package nexmark

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/operators/jsonpath"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/windows"
)

// buildClosingPrice reads a closing-price node (it has no fields besides
// on-error):
//
//	operators:
//	  - name: winning-bids
//	    type: closing-price
//	    inputs: [auctions, bids]   # nexmark-view rows: auctions, then bids
//	    key-by: key                # auctions keyed by id, bids by auction
func buildClosingPrice(p *params.Params) (registry.Operator, error) {
	policy := onerror.FromParams(p, "")
	if err := p.Err(); err != nil {
		return registry.Operator{}, err
	}
	return registry.Operator{Keyed: true, TwoInputs: true, New: func() (api.Operator, error) { return &closingPrice{onError: policy}, nil }}, nil
}

var (
	pathExpires  = jsonpath.MustParse("expires")
	pathCategory = jsonpath.MustParse("category")
	pathPrice    = jsonpath.MustParse("price")
)

// closingPrice is one subtask of closing-price, q4's inner query
//
//	SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
//	WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//	GROUP BY A.id, A.category
//
// computed once per auction, when it closes: keyed by auction id, it reads
// auction rows (columns expires, category) on its first input and bid rows
// (column price) on its second, both with the event's dateTime as their
// timestamp. It keeps per auction
// its bounds, category and highest bid so far, and emits
// {"id":…,"category":…,"final":…} when the watermark passes the auction's
// expiry, if a bid fell within the auction's lifetime. A bid that arrives
// before its auction waits in state until the auction arrives, or until the
// watermark passes the bid's time (no auction arriving later can then
// include it). Dropping each auction when it closes keeps the state to the
// open auctions, where the SQL's regular join keeps every auction and bid
// for ever; the final results are the same.
//
// State, all value states (point reads and writes: RocksDB iterators over
// the tombstones of cleared keys are slow): "auction", 33 bytes (dateTime,
// expires, category, a flag and the highest price, big-endian); "pending",
// 16 bytes (time, price) per bid waiting for its auction. Timers: the
// expiry in namespace "c"; in namespace "p" one per key, at the earliest
// pending bid's time.
type closingPrice struct {
	api.BaseOperator
	onError onerror.Policy
	name    string
	ks      api.KeyedState
	auction api.ValueState
	pending api.ValueState
	timers  api.TimerService
	bad     *onerror.Handler
	late    api.Counter

	st  auctionState
	buf []byte
	rec api.Record
}

var (
	nsClose   = []byte("c")
	nsPending = []byte("p")
)

type auctionState struct {
	start, expires, category int64
	hasMax                   bool
	max                      int64
}

const auctionStateLen = 33

func (s *auctionState) encode(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(s.start))
	dst = binary.BigEndian.AppendUint64(dst, uint64(s.expires))
	dst = binary.BigEndian.AppendUint64(dst, uint64(s.category))
	flag := byte(0)
	if s.hasMax {
		flag = 1
	}
	return binary.BigEndian.AppendUint64(append(dst, flag), uint64(s.max))
}

func (s *auctionState) decode(b []byte) error {
	if len(b) != auctionStateLen {
		return fmt.Errorf("%w: auction state of %d bytes", ErrCorruptState, len(b))
	}
	s.start = int64(binary.BigEndian.Uint64(b))
	s.expires = int64(binary.BigEndian.Uint64(b[8:]))
	s.category = int64(binary.BigEndian.Uint64(b[16:]))
	s.hasMax = b[24] == 1
	s.max = int64(binary.BigEndian.Uint64(b[25:]))
	return nil
}

// offer folds a bid at ts into the auction's highest price.
func (s *auctionState) offer(ts, price int64) {
	if ts < s.start || ts > s.expires {
		return
	}
	if !s.hasMax || price > s.max {
		s.hasMax, s.max = true, price
	}
}

// pendingBids checks an encoded list of pending bids.
func pendingBids(v []byte) error {
	if len(v)%16 != 0 {
		return fmt.Errorf("%w: pending bids of %d bytes", ErrCorruptState, len(v))
	}
	return nil
}

func (c *closingPrice) Open(ctx api.Context) error {
	c.name = ctx.OperatorName()
	c.ks, c.timers = ctx.KeyedState(), ctx.Timers()
	if c.ks == nil || c.timers == nil {
		return fmt.Errorf("closing-price %q needs a keyed input: add key-by", c.name)
	}
	var err error
	if c.auction, err = c.ks.Value(api.StateDescriptor{Name: "auction", Kind: api.ValueStateKind}); err != nil {
		return fmt.Errorf("closing-price %q: declaring state: %w", c.name, err)
	}
	if c.pending, err = c.ks.Value(api.StateDescriptor{Name: "pending", Kind: api.ValueStateKind}); err != nil {
		return fmt.Errorf("closing-price %q: declaring state: %w", c.name, err)
	}
	if c.bad, err = c.onError.NewHandler(ctx); err != nil {
		return fmt.Errorf("closing-price %q: %w", c.name, err)
	}
	c.late = ctx.Counter(windows.LateDroppedCounter)
	return nil
}

func (c *closingPrice) Close() error { return c.bad.Close() }

// ProcessBatch reads auctions (input 0).
func (c *closingPrice) ProcessBatch(in *api.Batch, _ api.Output) error {
	return c.each(in, c.addAuction)
}

// ProcessBatch2 reads bids (input 1).
func (c *closingPrice) ProcessBatch2(in *api.Batch, _ api.Output) error {
	return c.each(in, c.addBid)
}

func (c *closingPrice) each(in *api.Batch, add func(r *api.Record) error) error {
	for i := range in.Records {
		r := &in.Records[i]
		err := errNoEventTime
		if r.HasTimestamp() {
			c.ks.SetCurrentKey(r.Key)
			err = add(r)
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, onerror.ErrMalformed) {
			return err
		}
		if err := c.bad.Handle(position(r), r.Value, err); err != nil {
			return err
		}
	}
	return nil
}

func intField(path jsonpath.Path, v []byte) (int64, error) {
	n, ok := numField(path, v)
	if !ok || n.IsFloat {
		return 0, fmt.Errorf("field %s: %w", path, errNoNumber)
	}
	return n.Int, nil
}

func (c *closingPrice) addAuction(r *api.Record) error {
	expires, err := intField(pathExpires, r.Value)
	if err != nil {
		return err
	}
	category, err := intField(pathCategory, r.Value)
	if err != nil {
		return err
	}
	c.st = auctionState{start: r.Timestamp, expires: expires, category: category}
	// Bids that arrived first.
	pend, found, err := c.pending.Get()
	if err != nil {
		return fmt.Errorf("closing-price %q: reading pending bids: %w", c.name, err)
	}
	if found {
		if err := pendingBids(pend); err != nil {
			return fmt.Errorf("closing-price %q: %w", c.name, err)
		}
		for ; len(pend) > 0; pend = pend[16:] {
			c.st.offer(int64(binary.BigEndian.Uint64(pend)), int64(binary.BigEndian.Uint64(pend[8:])))
		}
		if err := c.pending.Clear(); err != nil {
			return fmt.Errorf("closing-price %q: %w", c.name, err)
		}
	}
	if err := c.auction.Put(c.st.encode(c.buf[:0])); err != nil {
		return fmt.Errorf("closing-price %q: writing state: %w", c.name, err)
	}
	return c.timer(nsClose, expires)
}

func (c *closingPrice) timer(ns []byte, at int64) error {
	c.ks.SetCurrentNamespace(ns)
	err := c.timers.RegisterEventTimeTimer(at)
	c.ks.SetCurrentNamespace(nil)
	if err != nil {
		return fmt.Errorf("closing-price %q: %w", c.name, err)
	}
	return nil
}

func (c *closingPrice) addBid(r *api.Record) error {
	price, err := intField(pathPrice, r.Value)
	if err != nil {
		return err
	}
	v, found, err := c.auction.Get()
	if err != nil {
		return fmt.Errorf("closing-price %q: reading state: %w", c.name, err)
	}
	if found {
		if err := c.st.decode(v); err != nil {
			return fmt.Errorf("closing-price %q: %w", c.name, err)
		}
		before := c.st
		c.st.offer(r.Timestamp, price)
		if c.st == before {
			return nil
		}
		return c.auction.Put(c.st.encode(c.buf[:0]))
	}
	if r.Timestamp <= c.timers.CurrentWatermark() {
		// No auction that arrives from now on can start at or before it.
		c.late.Add(1)
		return nil
	}
	pend, _, err := c.pending.Get()
	if err != nil {
		return fmt.Errorf("closing-price %q: reading pending bids: %w", c.name, err)
	}
	if err := pendingBids(pend); err != nil {
		return fmt.Errorf("closing-price %q: %w", c.name, err)
	}
	earliest := int64(math.MaxInt64)
	for p := pend; len(p) > 0; p = p[16:] {
		earliest = min(earliest, int64(binary.BigEndian.Uint64(p)))
	}
	c.buf = append(c.buf[:0], pend...)
	c.buf = binary.BigEndian.AppendUint64(c.buf, uint64(r.Timestamp))
	c.buf = binary.BigEndian.AppendUint64(c.buf, uint64(price))
	if err := c.pending.Put(c.buf); err != nil {
		return fmt.Errorf("closing-price %q: keeping a bid: %w", c.name, err)
	}
	if r.Timestamp < earliest {
		return c.timer(nsPending, r.Timestamp)
	}
	return nil
}

// OnTimer closes an auction (namespace "c") or drops pending bids the
// watermark has passed (namespace "p").
func (c *closingPrice) OnTimer(t api.Timer, out api.Output) error {
	ns := string(t.Namespace)
	c.ks.SetCurrentNamespace(nil)
	switch ns {
	case "c":
		v, found, err := c.auction.Get()
		if err != nil {
			return fmt.Errorf("closing-price %q: reading state: %w", c.name, err)
		}
		if !found {
			return nil
		}
		if err := c.st.decode(v); err != nil {
			return fmt.Errorf("closing-price %q: %w", c.name, err)
		}
		if c.st.expires != t.Timestamp {
			return nil // an older timer of a re-opened id
		}
		if c.st.hasMax {
			c.buf = append(c.buf[:0], `{"id":`...)
			c.buf = append(c.buf, t.Key...)
			c.buf = append(c.buf, `,"category":`...)
			c.buf = strconv.AppendInt(c.buf, c.st.category, 10)
			c.buf = append(c.buf, `,"final":`...)
			c.buf = strconv.AppendInt(c.buf, c.st.max, 10)
			c.buf = append(c.buf, '}')
			c.rec = api.Record{Key: t.Key, Value: c.buf, Timestamp: t.Timestamp}
			out.Emit(&c.rec)
			c.rec = api.Record{}
		}
		return c.auction.Clear()
	case "p":
		return c.dropPending(t.Timestamp)
	}
	return fmt.Errorf("closing-price %q: %w: timer namespace %q", c.name, ErrCorruptState, ns)
}

// dropPending forgets the pending bids at or before limit and sets the
// timer of the earliest one left.
func (c *closingPrice) dropPending(limit int64) error {
	pend, found, err := c.pending.Get()
	if err != nil || !found {
		return err
	}
	if err := pendingBids(pend); err != nil {
		return fmt.Errorf("closing-price %q: %w", c.name, err)
	}
	c.buf = c.buf[:0]
	earliest := int64(math.MaxInt64)
	for ; len(pend) > 0; pend = pend[16:] {
		if ts := int64(binary.BigEndian.Uint64(pend)); ts > limit {
			c.buf = append(c.buf, pend[:16]...)
			earliest = min(earliest, ts)
		}
	}
	if len(c.buf) == 0 {
		return c.pending.Clear()
	}
	if err := c.pending.Put(c.buf); err != nil {
		return fmt.Errorf("closing-price %q: %w", c.name, err)
	}
	return c.timer(nsPending, earliest)
}
