package nexmark

import (
	"container/heap"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/freshet/freshet/engine/connectors/nexmark"
	"github.com/freshet/freshet/engine/operators/jsonpath"
)

// A limit is the hand-written Go program of a query: one loop over the same
// generator, the query's computation with Go maps, no engine, no encoding,
// no state backend, one goroutine. It is what the query costs when nothing
// but the work itself is paid for, so Freshet's ratio to it says what the
// engine adds. Limits read the stream in generation order (the benchmark's
// generator is in order), so event time is the time of the last event read
// and a window closes as soon as an event after its end arrives.
//
// emit, when not nil, receives every result formatted as the Freshet job's
// sink receives it (tests compare the two); the benchmark passes nil, and
// the limit folds each result into the returned digest instead, so that
// the work cannot be optimized away.
type limitFunc func(g *nexmark.Generator, emit func(string)) uint64

// Window parameters of the queries (the Nexmark suite's).
const (
	q5Size  = 10_000
	q5Slide = 2_000
	q7Size  = 10_000
	q8Size  = 10_000
	q11Gap  = 10_000
	q12Size = 10 * time.Second
)

func mix(d uint64, v int64) uint64 { return (d ^ uint64(v)) * 0x100000001b3 }

func bidRowJSON(b *nexmark.Bid) string {
	s := fmt.Appendf(nil, `{"auction":%d,"bidder":%d,"price":%d,"dateTime":%d,"extra":`, b.Auction, b.Bidder, b.Price, b.DateTime)
	s = jsonpath.AppendString(s, b.Extra)
	return string(append(s, '}'))
}

func limitQ0(g *nexmark.Generator, emit func(string)) uint64 {
	var ev nexmark.Event
	var d uint64
	for g.Next(&ev) {
		if ev.Kind != nexmark.KindBid {
			continue
		}
		b := &ev.Bid
		if emit != nil {
			emit(bidRowJSON(b))
		}
		d = mix(mix(mix(mix(mix(d, b.Auction), b.Bidder), b.Price), b.DateTime), int64(len(b.Extra)))
	}
	return d
}

// q1Price is the plugins' exact integer conversion: price * 0.908, truncated.
func q1Price(p int64) int64 { return p/1000*908 + p%1000*908/1000 }

func limitQ1(g *nexmark.Generator, emit func(string)) uint64 {
	var ev nexmark.Event
	var d uint64
	for g.Next(&ev) {
		if ev.Kind != nexmark.KindBid {
			continue
		}
		b := &ev.Bid
		p := q1Price(b.Price)
		if emit != nil {
			emit(fmt.Sprintf("%d,%d,%d,%d", b.Auction, b.Bidder, p, b.DateTime))
		}
		d = mix(mix(mix(mix(d, b.Auction), b.Bidder), p), b.DateTime)
	}
	return d
}

func limitQ2(g *nexmark.Generator, emit func(string)) uint64 {
	var ev nexmark.Event
	var d uint64
	for g.Next(&ev) {
		if ev.Kind != nexmark.KindBid || ev.Bid.Auction%123 != 0 {
			continue
		}
		b := &ev.Bid
		if emit != nil {
			emit(fmt.Sprintf("%d,%d,%d,%d", b.Auction, b.Bidder, b.Price, b.DateTime))
		}
		d = mix(mix(d, b.Auction), b.Price)
	}
	return d
}

func localState(s []byte) bool {
	return string(s) == "OR" || string(s) == "ID" || string(s) == "CA"
}

type q3Person struct{ name, city, state string }

func q3Row(p q3Person, auction int64) string {
	return fmt.Sprintf(`{"city":%s,"id":%d,"name":%s,"state":%s}`, strconv.Quote(p.city), auction, strconv.Quote(p.name), strconv.Quote(p.state))
}

func limitQ3(g *nexmark.Generator, emit func(string)) uint64 {
	var ev nexmark.Event
	var d uint64
	persons := map[int64]q3Person{}
	auctions := map[int64][]int64{} // by seller
	for g.Next(&ev) {
		switch ev.Kind {
		case nexmark.KindPerson:
			p := &ev.Person
			if !localState(p.State) {
				continue
			}
			row := q3Person{string(p.Name), string(p.City), string(p.State)}
			persons[p.ID] = row
			for _, a := range auctions[p.ID] {
				if emit != nil {
					emit(q3Row(row, a))
				}
				d = mix(d, a)
			}
		case nexmark.KindAuction:
			a := &ev.Auction
			if a.Category != 10 {
				continue
			}
			auctions[a.Seller] = append(auctions[a.Seller], a.ID)
			if p, ok := persons[a.Seller]; ok {
				if emit != nil {
					emit(q3Row(p, a.ID))
				}
				d = mix(d, a.ID)
			}
		}
	}
	return d
}

// q4Auction is an open auction of q4.
type q4Auction struct {
	start, expires, category int64
	hasMax                   bool
	max                      int64
}

func (a *q4Auction) offer(ts, price int64) {
	if ts >= a.start && ts <= a.expires && (!a.hasMax || price > a.max) {
		a.hasMax, a.max = true, price
	}
}

// expiry is a min-heap of (expires, auction id).
type expiry [][2]int64

func (h expiry) Len() int           { return len(h) }
func (h expiry) Less(i, j int) bool { return h[i][0] < h[j][0] }
func (h expiry) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiry) Push(x any)        { *h = append(*h, x.([2]int64)) }
func (h *expiry) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// q4Avg is the running average of one category.
type q4Avg struct{ sum, n int64 }

func limitQ4(g *nexmark.Generator, emit func(string)) uint64 {
	var ev nexmark.Event
	open := map[int64]*q4Auction{}
	var closing expiry
	type bid struct{ auction, ts, price int64 }
	pending := map[int64][]bid{}
	var pendingOrder []bid // by time, to forget pending bids the clock passed
	avgs := map[int64]*q4Avg{}
	var d uint64
	closeUpTo := func(now int64) {
		for closing.Len() > 0 && closing[0][0] < now {
			id := heap.Pop(&closing).([2]int64)[1]
			a := open[id]
			delete(open, id)
			if a == nil || !a.hasMax {
				continue
			}
			c := avgs[a.category]
			if c == nil {
				c = &q4Avg{}
				avgs[a.category] = c
			}
			c.sum += a.max
			c.n++
			d = mix(mix(d, a.category), a.max)
		}
		for len(pendingOrder) > 0 && pendingOrder[0].ts < now {
			b := pendingOrder[0]
			pendingOrder = pendingOrder[1:]
			if ps := pending[b.auction]; len(ps) > 0 && ps[0].ts < now {
				if len(ps) == 1 {
					delete(pending, b.auction)
				} else {
					pending[b.auction] = ps[1:]
				}
			}
		}
	}
	for g.Next(&ev) {
		closeUpTo(ev.Timestamp())
		switch ev.Kind {
		case nexmark.KindAuction:
			a := &ev.Auction
			st := &q4Auction{start: a.DateTime, expires: a.Expires, category: a.Category}
			for _, b := range pending[a.ID] {
				st.offer(b.ts, b.price)
			}
			delete(pending, a.ID)
			open[a.ID] = st
			heap.Push(&closing, [2]int64{a.Expires, a.ID})
		case nexmark.KindBid:
			b := &ev.Bid
			if st, ok := open[b.Auction]; ok {
				st.offer(b.DateTime, b.Price)
			} else {
				x := bid{b.Auction, b.DateTime, b.Price}
				pending[b.Auction] = append(pending[b.Auction], x)
				pendingOrder = append(pendingOrder, x)
			}
		}
	}
	closeUpTo(1<<63 - 1)
	if emit != nil {
		for cat, c := range avgs {
			emit(fmt.Sprintf("%d,%s", cat, jsonpath.AppendFloat(nil, float64(c.sum)/float64(c.n))))
		}
	}
	return d
}

// windowRow is the JSON row of a window operator's result.
func windowRow(key string, start, end int64, agg string, n int64) string {
	return fmt.Sprintf(`{"key":"%s","start":%d,"end":%d,"%s":%d}`, key, start, end, agg, n)
}

func floorTo(ts, every int64) int64 { return ts - floorMod(ts, every) }

func limitQ5(g *nexmark.Generator, emit func(string)) uint64 {
	var ev nexmark.Event
	var d uint64
	panes := map[int64]map[int64]int64{} // pane start -> auction -> bids
	var free []map[int64]int64
	nextEnd := int64(-1 << 62) // the end of the next window to fire
	counts := map[int64]int64{}
	fire := func(end int64) {
		clear(counts)
		for p := end - q5Size; p < end; p += q5Slide {
			for a, n := range panes[p] {
				counts[a] += n
			}
		}
		best := int64(0)
		for _, n := range counts {
			best = max(best, n)
		}
		for a, n := range counts {
			if n == best {
				if emit != nil {
					emit(windowRow(strconv.FormatInt(a, 10), end-q5Size, end, "sum", n))
				}
				d = mix(mix(d, a), end)
			}
		}
		if old, ok := panes[end-q5Size]; ok {
			delete(panes, end-q5Size)
			clear(old)
			free = append(free, old)
		}
	}
	lastPane := int64(-1 << 62)
	for g.Next(&ev) {
		if ev.Kind != nexmark.KindBid {
			continue
		}
		ts := ev.Bid.DateTime
		pane := floorTo(ts, q5Slide)
		if nextEnd < -1<<61 {
			nextEnd = pane + q5Slide
		}
		for nextEnd <= ts { // every window ending at or before ts is complete
			fire(nextEnd)
			nextEnd += q5Slide
		}
		if pane != lastPane {
			if panes[pane] == nil {
				if n := len(free); n > 0 {
					panes[pane], free = free[n-1], free[:n-1]
				} else {
					panes[pane] = map[int64]int64{}
				}
			}
			lastPane = pane
		}
		panes[pane][ev.Bid.Auction]++
	}
	for len(panes) > 0 {
		fire(nextEnd)
		nextEnd += q5Slide
	}
	return d
}

func limitQ7(g *nexmark.Generator, emit func(string)) uint64 {
	var ev nexmark.Event
	var d uint64
	start := int64(-1 << 62)
	best := int64(-1)
	var top []nexmark.Bid
	var extras [][]byte
	flush := func() {
		for i := range top {
			if emit != nil {
				b := top[i]
				b.Extra = extras[i]
				emit(bidRowJSON(&b))
			}
			d = mix(mix(d, top[i].Auction), top[i].Price)
		}
		top, best = top[:0], -1
	}
	for g.Next(&ev) {
		if ev.Kind != nexmark.KindBid {
			continue
		}
		b := &ev.Bid
		if w := floorTo(b.DateTime, q7Size); w != start {
			flush()
			start = w
		}
		switch {
		case b.Price < best:
			continue
		case b.Price > best:
			top, best = top[:0], b.Price
		}
		top = append(top, *b)
		if len(extras) < len(top) {
			extras = append(extras, nil)
		}
		extras[len(top)-1] = append(extras[len(top)-1][:0], b.Extra...)
	}
	flush()
	return d
}

func limitQ8(g *nexmark.Generator, emit func(string)) uint64 {
	var ev nexmark.Event
	var d uint64
	start := int64(-1 << 62)
	persons := map[int64]string{}
	sellers := map[int64]struct{}{}
	flush := func() {
		for id, name := range persons {
			if _, ok := sellers[id]; !ok {
				continue
			}
			if emit != nil {
				emit(fmt.Sprintf(`{"id":%d,"name":"%s","starttime":%d}`, id, name, start))
			}
			d = mix(mix(d, id), start)
		}
		clear(persons)
		clear(sellers)
	}
	for g.Next(&ev) {
		if ev.Kind == nexmark.KindBid {
			continue
		}
		if w := floorTo(ev.Timestamp(), q8Size); w != start {
			flush()
			start = w
		}
		if ev.Kind == nexmark.KindPerson {
			persons[ev.Person.ID] = string(ev.Person.Name)
		} else {
			sellers[ev.Auction.Seller] = struct{}{}
		}
	}
	flush()
	return d
}

type session struct{ start, last, n int64 }

func limitQ11(g *nexmark.Generator, emit func(string)) uint64 {
	var ev nexmark.Event
	var d uint64
	sessions := map[int64]*session{}
	done := func(bidder int64, s *session) {
		if emit != nil {
			emit(windowRow(strconv.FormatInt(bidder, 10), s.start, s.last+q11Gap, "count", s.n))
		}
		d = mix(mix(d, bidder), s.n)
	}
	for g.Next(&ev) {
		if ev.Kind != nexmark.KindBid {
			continue
		}
		b := &ev.Bid
		s := sessions[b.Bidder]
		switch {
		case s == nil:
			sessions[b.Bidder] = &session{b.DateTime, b.DateTime, 1}
		case b.DateTime-s.last >= q11Gap:
			done(b.Bidder, s)
			*s = session{b.DateTime, b.DateTime, 1}
		default:
			s.last = max(s.last, b.DateTime)
			s.n++
		}
	}
	bidders := make([]int64, 0, len(sessions))
	for b := range sessions {
		bidders = append(bidders, b)
	}
	slices.Sort(bidders)
	for _, b := range bidders {
		done(b, sessions[b])
	}
	return d
}

// limitQ12 counts bids per bidder per 10 s of wall-clock time, reading the
// clock every 1024 events. Windows open at the end are emitted too (the
// Freshet job drops them: see docs/nexmark.md).
func limitQ12(g *nexmark.Generator, emit func(string)) uint64 {
	var ev nexmark.Event
	var d uint64
	size := q12Size.Milliseconds()
	counts := map[int64]int64{}
	start := floorTo(time.Now().UnixMilli(), size)
	flush := func() {
		for bidder, n := range counts {
			if emit != nil {
				emit(windowRow(strconv.FormatInt(bidder, 10), start, start+size, "count", n))
			}
			d = mix(mix(d, bidder), n)
		}
		clear(counts)
	}
	for i := 0; g.Next(&ev); i++ {
		if i%1024 == 0 {
			if now := time.Now().UnixMilli(); now >= start+size {
				flush()
				start = floorTo(now, size)
			}
		}
		if ev.Kind == nexmark.KindBid {
			counts[ev.Bid.Bidder]++
		}
	}
	flush()
	return d
}
