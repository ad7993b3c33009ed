package nexmark

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"time"

	"github.com/freshet/freshet/engine/connectors/internal/rng"
)

// Constants of the Nexmark model.
const (
	FirstPersonID   = 1000
	FirstAuctionID  = 1000
	FirstCategoryID = 10
	NumCategories   = 5

	// A hot auction, seller or bidder is the first (the second for bidders)
	// of each block of this many recent auctions or people.
	hotAuctionBlock = 100
	hotSellerBlock  = 100
	hotBidderBlock  = 100
	// Bids and auctions may name people and auctions up to this many ids
	// beyond the newest one, as in the original model.
	personIDLead  = 10
	auctionIDLead = 10
	// Half the bids come from one of four hot channels, the rest from one of
	// channelCount others.
	hotChannelRatio = 2
	channelCount    = 10_000
)

// DefaultBaseTime is the event time of the first event by default:
// 2015-07-15T00:00:00Z, as in the Nexmark benchmark.
const DefaultBaseTime int64 = 1436918400000

// Config shapes the generated stream. Start from DefaultConfig; zero numeric
// fields other than Seed, Events, BaseTime and OutOfOrder take the defaults.
type Config struct {
	// Seed selects the stream; equal seeds give equal streams.
	Seed uint64
	// Events is the number of events; 0 means unbounded.
	Events int64
	// EventsPerSecond is the event-time rate: event n happens at
	// BaseTime + n/EventsPerSecond (default 10000).
	EventsPerSecond float64
	// BaseTime is the event time of event 0, in ms since the Unix epoch.
	BaseTime int64
	// OutOfOrder, when positive, shuffles delivery within groups of
	// consecutive events so that no event is delivered more than this much
	// event time after a later one. It is rounded down to whole ms.
	OutOfOrder time.Duration

	// Of every PersonProportion+AuctionProportion+BidProportion events, the
	// first PersonProportion are people and the next AuctionProportion are
	// auctions (1, 3, 46).
	PersonProportion, AuctionProportion, BidProportion int
	// A bid is for a hot auction with probability 1-1/HotAuctionRatio (2);
	// an auction's seller and a bid's bidder are hot with probability
	// 1-1/HotSellerRatio and 1-1/HotBidderRatio (4, 4).
	HotAuctionRatio, HotSellerRatio, HotBidderRatio int
	// InFlightAuctions is how many recent auctions a non-hot bid picks from
	// (100); ActivePeople how many recent people sellers and bidders are
	// drawn from (1000).
	InFlightAuctions, ActivePeople int
	// Average event sizes in bytes, reached by padding the extra field
	// (200, 500, 100).
	AvgPersonSize, AvgAuctionSize, AvgBidSize int
}

// DefaultConfig is the standard Nexmark configuration, unbounded.
func DefaultConfig() Config {
	return Config{
		EventsPerSecond:  10_000,
		BaseTime:         DefaultBaseTime,
		PersonProportion: 1, AuctionProportion: 3, BidProportion: 46,
		HotAuctionRatio: 2, HotSellerRatio: 4, HotBidderRatio: 4,
		InFlightAuctions: 100, ActivePeople: 1000,
		AvgPersonSize: 200, AvgAuctionSize: 500, AvgBidSize: 100,
	}
}

func (c *Config) fillDefaults() {
	d := DefaultConfig()
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	if c.EventsPerSecond == 0 {
		c.EventsPerSecond = d.EventsPerSecond
	}
	setInt(&c.PersonProportion, d.PersonProportion)
	setInt(&c.AuctionProportion, d.AuctionProportion)
	setInt(&c.BidProportion, d.BidProportion)
	setInt(&c.HotAuctionRatio, d.HotAuctionRatio)
	setInt(&c.HotSellerRatio, d.HotSellerRatio)
	setInt(&c.HotBidderRatio, d.HotBidderRatio)
	setInt(&c.InFlightAuctions, d.InFlightAuctions)
	setInt(&c.ActivePeople, d.ActivePeople)
	setInt(&c.AvgPersonSize, d.AvgPersonSize)
	setInt(&c.AvgAuctionSize, d.AvgAuctionSize)
	setInt(&c.AvgBidSize, d.AvgBidSize)
}

// ErrConfig is the category of Config mistakes.
var ErrConfig = errors.New("invalid nexmark config")

// Validate reports the first field out of range (after defaults).
func (c Config) Validate() error {
	c.fillDefaults()
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s is %v, %s", ErrConfig, field, v, want)
	}
	switch {
	case c.Events < 0:
		return bad("Events", c.Events, "want 0 (unbounded) or more")
	case !(c.EventsPerSecond > 0) || math.IsInf(c.EventsPerSecond, 0):
		return bad("EventsPerSecond", c.EventsPerSecond, "want a positive number")
	case c.OutOfOrder < 0:
		return bad("OutOfOrder", c.OutOfOrder, "want 0 or more")
	case c.PersonProportion < 1 || c.AuctionProportion < 1 || c.BidProportion < 1:
		return bad("proportions", fmt.Sprintf("%d:%d:%d", c.PersonProportion, c.AuctionProportion, c.BidProportion), "want each at least 1")
	case c.PersonProportion+c.AuctionProportion+c.BidProportion > 1<<20:
		return bad("proportions", c.PersonProportion+c.AuctionProportion+c.BidProportion, "want a total below 2^20")
	case c.HotAuctionRatio < 1 || c.HotSellerRatio < 1 || c.HotBidderRatio < 1:
		return bad("hot ratios", fmt.Sprintf("%d/%d/%d", c.HotAuctionRatio, c.HotSellerRatio, c.HotBidderRatio), "want each at least 1")
	case c.InFlightAuctions < 1 || c.InFlightAuctions > 1<<30:
		return bad("InFlightAuctions", c.InFlightAuctions, "want 1 to 2^30")
	case c.ActivePeople < 1 || c.ActivePeople > 1<<30:
		return bad("ActivePeople", c.ActivePeople, "want 1 to 2^30")
	case c.AvgPersonSize < 1 || c.AvgAuctionSize < 1 || c.AvgBidSize < 1 ||
		max(c.AvgPersonSize, c.AvgAuctionSize, c.AvgBidSize) > 1<<20:
		return bad("average sizes", fmt.Sprintf("%d/%d/%d", c.AvgPersonSize, c.AvgAuctionSize, c.AvgBidSize), "want 1 to 1MiB")
	}
	if g := c.groupSize(); g > 1<<40 {
		return bad("OutOfOrder", c.OutOfOrder, fmt.Sprintf("which shuffles groups of %d events; want fewer than 2^40", g))
	}
	return nil
}

func (c *Config) delayUs() float64 { return 1e6 / c.EventsPerSecond }

// groupSize is the number of consecutive events shuffled among themselves.
func (c *Config) groupSize() int64 {
	boundUs := float64(c.OutOfOrder.Milliseconds()) * 1000
	g := math.Floor(boundUs/c.delayUs()) + 1
	if g > 1<<50 {
		return 1 << 50
	}
	return int64(g)
}

// Generator produces the Nexmark event stream. Event n (its event number) is
// a pure function of the seed and n, so a stream can be split across
// subtasks, resumed at any position, and reproduced exactly.
//
// Events are delivered in positions 0, 1, 2, ...; without OutOfOrder the
// event at position n is event n. A Generator is not safe for concurrent use;
// Split it instead.
type Generator struct {
	cfg     Config
	total   int64
	delayUs float64

	group            int64 // shuffle group size (1: in order)
	mult             int64 // permutation multiplier within a full group
	tailBase, tailSz int64 // the last, partial group of a bounded stream
	tailMult         int64
	auctionEvents    int64 // events that span InFlightAuctions auctions

	next, stride int64
	buf          []byte
}

// NewGenerator returns a generator of the whole stream cfg describes.
func NewGenerator(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fillDefaults()
	g := &Generator{
		cfg:     cfg,
		total:   int64(cfg.PersonProportion + cfg.AuctionProportion + cfg.BidProportion),
		delayUs: cfg.delayUs(),
		group:   cfg.groupSize(),
		stride:  1,
		buf:     make([]byte, 0, 2*max(cfg.AvgPersonSize, cfg.AvgAuctionSize, cfg.AvgBidSize)+512),
	}
	g.auctionEvents = int64(cfg.InFlightAuctions) * g.total / int64(cfg.AuctionProportion)
	g.mult = coprime(g.group)
	g.tailBase = math.MaxInt64
	if cfg.Events > 0 {
		g.tailBase = cfg.Events / g.group * g.group
		g.tailSz = cfg.Events - g.tailBase
		g.tailMult = coprime(max(g.tailSz, 1))
	}
	return g, nil
}

// coprime returns a multiplier that permutes [0, n) by k -> k*m mod n.
func coprime(n int64) int64 {
	m := int64(953) // as in the original generator
	for gcd(m, n) != 1 {
		m++
	}
	return m
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Config is the generator's configuration, defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Split returns a generator of positions index, index+count, index+2*count,
// ... of g's stream: the share of subtask index of count. The shares of all
// subtasks together are the whole stream.
func (g *Generator) Split(index, count int) (*Generator, error) {
	if count < 1 || index < 0 || index >= count {
		return nil, fmt.Errorf("%w: split %d of %d", ErrConfig, index, count)
	}
	c := *g
	c.stride = g.stride * int64(count)
	c.next = g.next + int64(index)*g.stride
	c.buf = make([]byte, 0, cap(g.buf))
	return &c, nil
}

// at returns a generator of positions next, next+stride, ... of g's stream.
func (g *Generator) at(next, stride int64) *Generator {
	c := *g
	c.next, c.stride = next, stride
	c.buf = make([]byte, 0, cap(g.buf))
	return &c
}

// Position is the stream position of the next event Next returns.
func (g *Generator) Position() int64 { return g.next }

// SetPosition makes Next continue at stream position pos, which must be one of
// this generator's positions (for a split generator, index mod count).
func (g *Generator) SetPosition(pos int64) { g.next = pos }

// Done reports whether a bounded stream has no events left for g.
func (g *Generator) Done() bool { return g.cfg.Events > 0 && g.next >= g.cfg.Events }

// Next fills ev with the next event and reports whether there was one.
func (g *Generator) Next(ev *Event) bool {
	if g.Done() {
		return false
	}
	g.Event(g.next, ev)
	g.next += g.stride
	return true
}

// Watermark is a lower bound of the event time of every event g has not
// returned yet.
func (g *Generator) Watermark() int64 {
	return g.timestamp(g.next / g.group * g.group)
}

// EventNumber is the number of the event delivered at position pos.
func (g *Generator) EventNumber(pos int64) int64 {
	if g.group <= 1 {
		return pos
	}
	if pos >= g.tailBase {
		return g.tailBase + (pos-g.tailBase)*g.tailMult%g.tailSz
	}
	base := pos / g.group * g.group
	return base + (pos-base)*g.mult%g.group
}

func (g *Generator) timestamp(e int64) int64 {
	return g.cfg.BaseTime + int64(float64(e)*g.delayUs)/1000
}

// Event fills ev with the event at stream position pos. Its byte slices stay
// valid until the generator's next Event or Next.
func (g *Generator) Event(pos int64, ev *Event) {
	e := g.EventNumber(pos)
	r := rng.New(rng.Mix(g.cfg.Seed, uint64(e)))
	ts := g.timestamp(e)
	g.buf = g.buf[:0]
	ev.plain = true
	switch rem := e % g.total; {
	case rem < int64(g.cfg.PersonProportion):
		ev.Kind = KindPerson
		g.person(e, ts, &r, &ev.Person)
	case rem < int64(g.cfg.PersonProportion+g.cfg.AuctionProportion):
		ev.Kind = KindAuction
		g.auction(e, ts, &r, &ev.Auction)
	default:
		ev.Kind = KindBid
		g.bid(e, ts, &r, &ev.Bid)
	}
}

// lastPerson is the base-0 id of the newest person at event e.
func (g *Generator) lastPerson(e int64) int64 {
	epoch, off := e/g.total, e%g.total
	pp := int64(g.cfg.PersonProportion)
	if off >= pp {
		off = pp - 1
	}
	return epoch*pp + off
}

// lastAuction is the base-0 id of the newest auction at event e.
func (g *Generator) lastAuction(e int64) int64 {
	epoch, off := e/g.total, e%g.total
	pp, ap := int64(g.cfg.PersonProportion), int64(g.cfg.AuctionProportion)
	switch {
	case off < pp:
		epoch--
		off = ap - 1
	case off >= pp+ap:
		off = ap - 1
	default:
		off -= pp
	}
	return epoch*ap + off
}

// somePerson picks a recent (or soon to exist) person.
func (g *Generator) somePerson(e int64, r *rng.Rand) int64 {
	n := g.lastPerson(e) + 1
	active := min(n, int64(g.cfg.ActivePeople))
	return n - active + r.Intn(active+personIDLead)
}

// someAuction picks an auction in flight (or soon to exist).
func (g *Generator) someAuction(e int64, r *rng.Rand) int64 {
	last := g.lastAuction(e)
	lo := max(last-int64(g.cfg.InFlightAuctions), 0)
	return lo + r.Intn(last-lo+1+auctionIDLead)
}

func nextPrice(r *rng.Rand) int64 {
	// 10^(6u) * 100, log-uniform in [100, 10^8).
	return int64(math.Round(math.Exp(r.Float64()*6*math.Ln10) * 100))
}

// appendString appends a random string of 3 to maxLen-1 letters with some
// spaces (replaced by special when it is not a space), trimmed.
func appendString(dst []byte, r *rng.Rand, maxLen int64, special byte) []byte {
	n := 3 + r.Intn(maxLen-3)
	start := len(dst)
	var v uint64
	for i := range n {
		if i%7 == 0 { // 338^7 < 2^64
			v = r.Uint64()
		}
		if v%13 == 0 {
			dst = append(dst, special)
		} else {
			dst = append(dst, byte('a'+(v/13)%26))
		}
		v /= 338
	}
	if special != ' ' {
		return dst
	}
	// Trim like the original: no leading or trailing spaces.
	s := dst[start:]
	i, j := 0, len(s)
	for i < j && s[i] == ' ' {
		i++
	}
	for j > i && s[j-1] == ' ' {
		j--
	}
	copy(s, s[i:j])
	return dst[:start+j-i]
}

// letters maps a random byte to a letter (slightly favouring the first 22
// letters, which does not matter for padding).
var letters = func() (t [256]byte) {
	for i := range t {
		t[i] = byte('a' + i%26)
	}
	return t
}()

// appendExact appends n random letters, eight per draw.
func appendExact(dst []byte, r *rng.Rand, n int64) []byte {
	at := len(dst)
	dst = slices.Grow(dst, int(n))[:at+int(n)]
	s := dst[at:]
	for len(s) >= 8 {
		v := r.Uint64()
		s[0], s[1], s[2], s[3] = letters[byte(v)], letters[byte(v>>8)], letters[byte(v>>16)], letters[byte(v>>24)]
		s[4], s[5], s[6], s[7] = letters[byte(v>>32)], letters[byte(v>>40)], letters[byte(v>>48)], letters[byte(v>>56)]
		s = s[8:]
	}
	v := r.Uint64()
	for i := range s {
		s[i] = letters[byte(v)]
		v >>= 8
	}
	return dst
}

// appendExtra pads an event of size current to avg bytes on average.
func appendExtra(dst []byte, r *rng.Rand, current, avg int) []byte {
	if current > avg {
		return dst
	}
	want := int64(avg - current)
	delta := int64(math.Round(float64(want) * 0.2))
	size := want - delta
	if delta > 0 {
		size += r.Intn(2 * delta)
	}
	return appendExact(dst, r, size)
}

// view returns buf[from:] with capacity clipped, so appends to the view
// never write into the generator's buffer.
func view(buf []byte, from int) []byte { return buf[from:len(buf):len(buf)] }

var (
	firstNames = [...]string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = [...]string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
	cities     = [...][]byte{[]byte("Phoenix"), []byte("Los Angeles"), []byte("San Francisco"), []byte("Boise"),
		[]byte("Portland"), []byte("Bend"), []byte("Redmond"), []byte("Seattle"), []byte("Kent"), []byte("Cheyenne")}
	states      = [...][]byte{[]byte("AZ"), []byte("CA"), []byte("ID"), []byte("OR"), []byte("WA"), []byte("WY")}
	hotChannels = [...][]byte{[]byte("Google"), []byte("Facebook"), []byte("Baidu"), []byte("Apple")}
	hotURLs     = func() (u [len(hotChannels)][]byte) {
		for i := range u {
			r := rng.New(rng.Mix(0x686f74, uint64(i)))
			u[i] = appendBaseURL(nil, &r)
		}
		return u
	}()
)

func appendBaseURL(dst []byte, r *rng.Rand) []byte {
	dst = append(dst, "https://www.nexmark.com/"...)
	dst = appendString(dst, r, 5, '_')
	dst = append(dst, '/')
	dst = appendString(dst, r, 5, '_')
	dst = append(dst, '/')
	dst = appendString(dst, r, 5, '_')
	return append(dst, "/item.htm?query=1"...)
}

func (g *Generator) person(e, ts int64, r *rng.Rand, p *Person) {
	p.ID = g.lastPerson(e) + FirstPersonID
	p.DateTime = ts
	b := g.buf
	at := len(b)
	b = append(b, firstNames[r.Intn(int64(len(firstNames)))]...)
	b = append(b, ' ')
	b = append(b, lastNames[r.Intn(int64(len(lastNames)))]...)
	p.Name = view(b, at)
	at = len(b)
	b = appendString(b, r, 7, ' ')
	b = append(b, '@')
	b = appendString(b, r, 5, ' ')
	b = append(b, ".com"...)
	p.EmailAddress = view(b, at)
	at = len(b)
	for i := range 4 {
		if i > 0 {
			b = append(b, ' ')
		}
		n := r.Intn(10000)
		b = append(b, byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
	}
	p.CreditCard = view(b, at)
	p.City = cities[r.Intn(int64(len(cities)))]
	p.State = states[r.Intn(int64(len(states)))]
	at = len(b)
	size := 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State)
	b = appendExtra(b, r, size, g.cfg.AvgPersonSize)
	p.Extra = view(b, at)
	g.buf = b
}

func (g *Generator) auction(e, ts int64, r *rng.Rand, a *Auction) {
	a.ID = g.lastAuction(e) + FirstAuctionID
	if r.Intn(int64(g.cfg.HotSellerRatio)) > 0 {
		a.Seller = g.lastPerson(e) / hotSellerBlock * hotSellerBlock
	} else {
		a.Seller = g.somePerson(e, r)
	}
	a.Seller += FirstPersonID
	a.Category = FirstCategoryID + r.Intn(NumCategories)
	a.InitialBid = nextPrice(r)
	a.DateTime = ts
	horizon := g.timestamp(e+g.auctionEvents) - ts
	a.Expires = ts + 1 + r.Intn(max(horizon*2, 1))
	b := g.buf
	at := len(b)
	b = appendString(b, r, 20, ' ')
	a.ItemName = view(b, at)
	at = len(b)
	b = appendString(b, r, 100, ' ')
	a.Description = view(b, at)
	a.Reserve = a.InitialBid + nextPrice(r)
	at = len(b)
	b = appendExtra(b, r, 8+len(a.ItemName)+len(a.Description)+8*5, g.cfg.AvgAuctionSize)
	a.Extra = view(b, at)
	g.buf = b
}

func (g *Generator) bid(e, ts int64, r *rng.Rand, d *Bid) {
	if r.Intn(int64(g.cfg.HotAuctionRatio)) > 0 {
		d.Auction = g.lastAuction(e) / hotAuctionBlock * hotAuctionBlock
	} else {
		d.Auction = g.someAuction(e, r)
	}
	d.Auction += FirstAuctionID
	if r.Intn(int64(g.cfg.HotBidderRatio)) > 0 {
		// The second person of the block, so hot bidders are not hot sellers.
		d.Bidder = g.lastPerson(e)/hotBidderBlock*hotBidderBlock + 1
	} else {
		d.Bidder = g.somePerson(e, r)
	}
	d.Bidder += FirstPersonID
	d.Price = nextPrice(r)
	d.DateTime = ts
	b := g.buf
	if r.Intn(hotChannelRatio) > 0 {
		i := r.Intn(int64(len(hotChannels)))
		d.Channel, d.URL = hotChannels[i], hotURLs[i]
	} else {
		c := r.Intn(channelCount)
		at := len(b)
		b = append(b, "channel-"...)
		b = strconv.AppendInt(b, c, 10)
		d.Channel = view(b, at)
		at = len(b)
		b = appendChannelURL(b, c)
		d.URL = view(b, at)
	}
	at := len(b)
	b = appendExtra(b, r, 8*4, g.cfg.AvgBidSize)
	d.Extra = view(b, at)
	g.buf = b
}

// appendChannelURL appends the URL of channel c: a function of c alone, so a
// channel always has the same URL.
func appendChannelURL(dst []byte, c int64) []byte {
	r := rng.New(rng.Mix(0x6368616e6e656c, uint64(c)))
	dst = appendBaseURL(dst, &r)
	if r.Intn(10) > 0 {
		dst = append(dst, "&channel_id="...)
		id := int64(int32(bits.Reverse32(uint32(c))))
		if id < 0 {
			id = -id
		}
		dst = strconv.AppendInt(dst, id, 10)
	}
	return dst
}
