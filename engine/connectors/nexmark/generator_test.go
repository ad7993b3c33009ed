package nexmark_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/connectors/nexmark"
)

func newGen(t testing.TB, cfg nexmark.Config) *nexmark.Generator {
	t.Helper()
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func bounded(events int64, seed uint64) nexmark.Config {
	c := nexmark.DefaultConfig()
	c.Events, c.Seed = events, seed
	return c
}

// jsonStream returns every event of g as JSON, in delivery order.
func jsonStream(g *nexmark.Generator) [][]byte {
	var out [][]byte
	var ev nexmark.Event
	for g.Next(&ev) {
		out = append(out, nexmark.AppendJSON(nil, &ev))
	}
	return out
}

func TestProportionsAreExact(t *testing.T) {
	for _, ooo := range []time.Duration{0, 200 * time.Millisecond} {
		cfg := bounded(50_000, 1)
		cfg.OutOfOrder = ooo
		g := newGen(t, cfg)
		var counts [3]int
		var ev nexmark.Event
		for g.Next(&ev) {
			counts[ev.Kind]++
		}
		if counts != [3]int{1000, 3000, 46000} {
			t.Fatalf("out-of-order %v: person/auction/bid = %v, want [1000 3000 46000]", ooo, counts)
		}
	}
}

func TestSameSeedSameStream(t *testing.T) {
	a := jsonStream(newGen(t, bounded(20_000, 7)))
	b := jsonStream(newGen(t, bounded(20_000, 7)))
	if !slices.EqualFunc(a, b, bytes.Equal) {
		t.Fatal("equal seeds gave different streams")
	}
	c := jsonStream(newGen(t, bounded(20_000, 8)))
	same := 0
	for i := range a {
		if bytes.Equal(a[i], c[i]) {
			same++
		}
	}
	if same > len(a)/100 {
		t.Fatalf("seeds 7 and 8 share %d of %d events", same, len(a))
	}
}

func TestIDsAndReferences(t *testing.T) {
	g := newGen(t, bounded(50_000, 3))
	var ev nexmark.Event
	nextPerson, nextAuction := int64(nexmark.FirstPersonID), int64(nexmark.FirstAuctionID)
	for g.Next(&ev) {
		switch ev.Kind {
		case nexmark.KindPerson:
			p := ev.Person
			if p.ID != nextPerson {
				t.Fatalf("person id %d, want %d", p.ID, nextPerson)
			}
			nextPerson++
			if len(p.Name) == 0 || !bytes.Contains(p.EmailAddress, []byte("@")) || len(p.CreditCard) != 19 || len(p.City) == 0 || len(p.State) != 2 {
				t.Fatalf("bad person %+v", p)
			}
		case nexmark.KindAuction:
			a := ev.Auction
			if a.ID != nextAuction {
				t.Fatalf("auction id %d, want %d", a.ID, nextAuction)
			}
			nextAuction++
			if a.Seller < nexmark.FirstPersonID || a.Seller > nextPerson+10 || a.Expires <= a.DateTime ||
				a.Reserve <= a.InitialBid || a.Category < 10 || a.Category > 14 || len(a.ItemName) == 0 {
				t.Fatalf("bad auction %+v (next person %d)", a, nextPerson)
			}
		case nexmark.KindBid:
			b := ev.Bid
			if b.Auction < nexmark.FirstAuctionID || b.Auction > nextAuction+10 || b.Bidder < nexmark.FirstPersonID ||
				b.Bidder > nextPerson+10 || b.Price < 100 || len(b.Channel) == 0 || !bytes.HasPrefix(b.URL, []byte("https://www.nexmark.com/")) {
				t.Fatalf("bad bid %+v", b)
			}
		}
	}
}

func TestHotKeySkew(t *testing.T) {
	g := newGen(t, bounded(100_000, 5))
	var ev nexmark.Event
	var bids, hotAuction, hotBidder, hotChannel int
	perAuction := map[int64]int{}
	for g.Next(&ev) {
		if ev.Kind != nexmark.KindBid {
			continue
		}
		b := ev.Bid
		bids++
		perAuction[b.Auction]++
		if (b.Auction-nexmark.FirstAuctionID)%100 == 0 {
			hotAuction++
		}
		if (b.Bidder-nexmark.FirstPersonID)%100 == 1 {
			hotBidder++
		}
		if !bytes.HasPrefix(b.Channel, []byte("channel-")) {
			hotChannel++
		}
	}
	frac := func(n int) float64 { return float64(n) / float64(bids) }
	// P(hot auction) = 1/2 plus the few random picks that land on a hot id;
	// P(hot bidder) = 3/4 likewise; half the bids come from hot channels.
	if f := frac(hotAuction); f < 0.48 || f > 0.56 {
		t.Errorf("hot auctions get %.3f of bids, want about 0.5", f)
	}
	if f := frac(hotBidder); f < 0.73 || f > 0.78 {
		t.Errorf("hot bidders make %.3f of bids, want about 0.75", f)
	}
	if f := frac(hotChannel); f < 0.48 || f > 0.52 {
		t.Errorf("hot channels carry %.3f of bids, want about 0.5", f)
	}
	counts := make([]int, 0, len(perAuction))
	for _, c := range perAuction {
		counts = append(counts, c)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(counts)))
	// 6000 auctions; the 60 hot ones should dwarf the median.
	if median := counts[len(counts)/2]; counts[0] < 50*median {
		t.Errorf("top auction has %d bids, median %d: no skew", counts[0], median)
	}
}

func TestTimestamps(t *testing.T) {
	tests := []struct {
		name string
		ooo  time.Duration
		rate float64
	}{
		{"in order", 0, 10_000},
		{"in order, slow", 0, 3},
		{"out of order 50ms", 50 * time.Millisecond, 10_000},
		{"out of order 1s at 1M/s", time.Second, 1_000_000},
		{"bound below one event", 100 * time.Microsecond, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := bounded(60_001, 2)
			cfg.OutOfOrder, cfg.EventsPerSecond = tc.ooo, tc.rate
			g := newGen(t, cfg)
			var ev nexmark.Event
			maxSeen, lateness, n := int64(0), int64(0), int64(0)
			var first, last int64
			for g.Next(&ev) {
				ts := ev.Timestamp()
				if n == 0 {
					first = ts
				}
				last = max(last, ts)
				if ts < maxSeen {
					lateness = max(lateness, maxSeen-ts)
				}
				maxSeen = max(maxSeen, ts)
				n++
			}
			if lateness > tc.ooo.Milliseconds() {
				t.Fatalf("an event arrived %dms after a later one, bound %v", lateness, tc.ooo)
			}
			if tc.ooo >= 50*time.Millisecond && lateness == 0 {
				t.Fatal("no event was out of order")
			}
			if first < nexmark.DefaultBaseTime || first > nexmark.DefaultBaseTime+tc.ooo.Milliseconds() {
				t.Fatalf("first timestamp %d, base %d", first, nexmark.DefaultBaseTime)
			}
			span := float64(last-nexmark.DefaultBaseTime) / 1000
			if want := float64(60_000) / tc.rate; span < want*0.99-0.001 || span > want*1.01+0.001 {
				t.Fatalf("events span %.3fs of event time, want %.3fs", span, want)
			}
		})
	}
}

func TestWatermarkIsALowerBound(t *testing.T) {
	cfg := bounded(20_000, 4)
	cfg.OutOfOrder = 30 * time.Millisecond
	g := newGen(t, cfg)
	var ev nexmark.Event
	var wms []int64
	var tss []int64
	for {
		wms = append(wms, g.Watermark())
		if !g.Next(&ev) {
			break
		}
		tss = append(tss, ev.Timestamp())
	}
	minFuture := int64(1) << 62
	for i := len(tss) - 1; i >= 0; i-- {
		minFuture = min(minFuture, tss[i])
		if wms[i] > minFuture {
			t.Fatalf("watermark %d before position %d, but an event at %d follows", wms[i], i, minFuture)
		}
	}
}

func TestSplitCoversTheStream(t *testing.T) {
	cfg := bounded(10_007, 6)
	cfg.OutOfOrder = 20 * time.Millisecond
	whole := jsonStream(newGen(t, cfg))
	var parts [][]byte
	g := newGen(t, cfg)
	for i := range 3 {
		s, err := g.Split(i, 3)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, jsonStream(s)...)
	}
	sortBytes := func(s [][]byte) { slices.SortFunc(s, bytes.Compare) }
	sortBytes(whole)
	sortBytes(parts)
	if !slices.EqualFunc(whole, parts, bytes.Equal) {
		t.Fatalf("3 splits give %d events, not the %d of the whole stream", len(parts), len(whole))
	}
	if _, err := g.Split(3, 3); err == nil {
		t.Fatal("split 3 of 3 accepted")
	}
}

func TestResumeAtPosition(t *testing.T) {
	all := jsonStream(newGen(t, bounded(2000, 9)))
	g := newGen(t, bounded(2000, 9))
	g.SetPosition(1234)
	if tail := jsonStream(g); !slices.EqualFunc(all[1234:], tail, bytes.Equal) {
		t.Fatal("resumed stream differs")
	}
}

func TestJSONIsValid(t *testing.T) {
	g := newGen(t, bounded(5000, 10))
	var ev nexmark.Event
	var sizes [3]struct{ n, total int }
	for g.Next(&ev) {
		j := nexmark.AppendJSON(nil, &ev)
		var m map[string]any
		if err := json.Unmarshal(j, &m); err != nil {
			t.Fatalf("%s: %v", j, err)
		}
		if m["type"] != ev.Kind.String() || int64(m["dateTime"].(float64)) != ev.Timestamp() {
			t.Fatalf("%s: type or dateTime wrong", j)
		}
		sizes[ev.Kind].n++
		sizes[ev.Kind].total += len(j)
	}
	for k, s := range sizes {
		t.Logf("%s: average JSON size %d bytes", nexmark.Kind(k), s.total/s.n)
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*nexmark.Config)
	}{
		{"negative events", func(c *nexmark.Config) { c.Events = -1 }},
		{"negative rate", func(c *nexmark.Config) { c.EventsPerSecond = -5 }},
		{"negative out of order", func(c *nexmark.Config) { c.OutOfOrder = -time.Second }},
		{"negative proportion", func(c *nexmark.Config) { c.BidProportion = -1 }},
		{"huge out of order", func(c *nexmark.Config) { c.OutOfOrder = 1 << 62; c.EventsPerSecond = 1e9 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := nexmark.DefaultConfig()
			tc.mod(&c)
			if _, err := nexmark.NewGenerator(c); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	// Zero fields take defaults.
	g := newGen(t, nexmark.Config{Events: 50})
	if c := g.Config(); c.BidProportion != 46 || c.EventsPerSecond != 10_000 {
		t.Fatalf("defaults not applied: %+v", c)
	}
}
