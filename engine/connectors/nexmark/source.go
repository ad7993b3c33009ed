package nexmark

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/internal/ratelimit"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// Register adds the nexmark source to r.
func Register(r *registry.Registry) {
	r.AddSource("nexmark", "the Nexmark auction benchmark's people, auctions and bids (JSON or binary), with event time", Build)
}

// Build validates a nexmark source's params.
func Build(p *params.Params) (func() (api.Source, error), error) {
	binary := p.Enum("format", "json", "json", "binary") == "binary"
	return build(p, nil, binary)
}

// EventsCounter counts the events a source with an Encoder generated
// (its records out count only what the encoder emitted).
const EventsCounter = "numEventsGenerated"

// An Encoder turns the source's events into records, in place of its JSON
// and binary formats: a projection pushed into the source (BuildWith), so
// that an event is never encoded whole and decoded again. One per subtask.
type Encoder interface {
	Open(ctx api.Context) error
	// Encode emits the records of ev, if any.
	Encode(ev *Event, out api.SourceContext)
	// Polled is called after each Poll that emitted events.
	Polled()
}

// BuildWith validates a nexmark source's params but format, which the
// caller reads with its own, and encodes events with newEncoder's.
func BuildWith(p *params.Params, newEncoder func() Encoder) (func() (api.Source, error), error) {
	return build(p, newEncoder, false)
}

// build reads the params; events are encoded by newEncoder's encoders, or
// (newEncoder nil) in JSON or binary.
func build(p *params.Params, newEncoder func() Encoder, binary bool) (func() (api.Source, error), error) {
	cfg := DefaultConfig()
	cfg.Seed = uint64(p.Int("seed", 0))
	cfg.Events = p.IntRange("events", 0, 1, math.MaxInt64)
	cfg.EventsPerSecond = p.Float("events-per-second", cfg.EventsPerSecond)
	if !(cfg.EventsPerSecond > 0) || math.IsInf(cfg.EventsPerSecond, 0) {
		p.Errorf("events-per-second", "must be a positive number, got %v", cfg.EventsPerSecond)
	}
	cfg.BaseTime = startTime(p)
	cfg.OutOfOrder = p.Duration("out-of-order", 0)
	if cfg.OutOfOrder < 0 {
		p.Errorf("out-of-order", "must not be negative")
	}
	intField := func(name string, v *int, def int) {
		*v = int(p.IntRange(name, int64(def), 1, 1<<30))
	}
	intField("hot-auction-ratio", &cfg.HotAuctionRatio, cfg.HotAuctionRatio)
	intField("hot-seller-ratio", &cfg.HotSellerRatio, cfg.HotSellerRatio)
	intField("hot-bidder-ratio", &cfg.HotBidderRatio, cfg.HotBidderRatio)
	intField("auctions-in-flight", &cfg.InFlightAuctions, cfg.InFlightAuctions)
	intField("active-people", &cfg.ActivePeople, cfg.ActivePeople)
	cfg.AvgPersonSize = int(p.IntRange("avg-person-size", int64(cfg.AvgPersonSize), 1, 1<<20))
	cfg.AvgAuctionSize = int(p.IntRange("avg-auction-size", int64(cfg.AvgAuctionSize), 1, 1<<20))
	cfg.AvgBidSize = int(p.IntRange("avg-bid-size", int64(cfg.AvgBidSize), 1, 1<<20))
	rate := p.Float("rows-per-second", 0)
	if rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		p.Errorf("rows-per-second", "must be a positive number (or absent for no limit), got %v", rate)
		rate = 0
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	gen, err := NewGenerator(cfg)
	if err != nil {
		return nil, &params.Error{Pos: p.Pos(), Field: p.Path(), Msg: err.Error()}
	}
	return func() (api.Source, error) {
		s := &Source{gen: gen, binary: binary, rate: rate}
		if newEncoder != nil {
			s.enc = newEncoder()
		}
		return s, nil
	}, nil
}

func startTime(p *params.Params) int64 {
	v, ok := p.Raw("start-time")
	if !ok {
		return DefaultBaseTime
	}
	switch x := v.V.(type) {
	case int64:
		return x
	case string:
		s := strings.TrimSpace(x)
		if s == "now" {
			return time.Now().UnixMilli()
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UnixMilli()
		}
	}
	p.Errorf("start-time", "expected an RFC 3339 time such as 2015-07-15T00:00:00Z, \"now\" or ms since the epoch, got %v", v.V)
	return DefaultBaseTime
}

// Source is one subtask of a nexmark source.
type Source struct {
	gen    *Generator // the whole stream; shared, read only
	binary bool
	enc    Encoder // nil: JSON or binary events
	events api.Counter
	rate   float64

	shard *Generator
	// more are further shares of the stream this subtask owns after a
	// restore at another parallelism; it takes turns between them.
	more     []*Generator
	restored bool
	bucket   *ratelimit.Bucket
	idle     chan struct{}
	ev       Event
	buf      []byte
}

// Open positions the subtask on its share of the stream.
func (s *Source) Open(ctx api.Context) error {
	if !s.restored {
		shard, err := s.gen.Split(ctx.Subtask(), ctx.Parallelism())
		if err != nil {
			return fmt.Errorf("nexmark source %q: %w", ctx.OperatorName(), err)
		}
		s.shard = shard
	} else if len(s.more) > 0 {
		s.shard, s.more = s.more[0], s.more[1:]
	} else {
		s.shard = nil // restored with nothing left to read
	}
	if s.rate > 0 {
		s.bucket = ratelimit.New(s.rate / float64(ctx.Parallelism()))
	}
	s.idle = make(chan struct{})
	s.buf = make([]byte, 0, 1024)
	if s.enc != nil {
		s.events = ctx.Counter(EventsCounter)
		return s.enc.Open(ctx)
	}
	return nil
}

// Generator is the subtask's generator, positioned at its next event.
func (s *Source) Generator() *Generator { return s.shard }

// Wake fires when a paced source has events due again.
func (s *Source) Wake() <-chan struct{} {
	if s.bucket != nil {
		return s.bucket.Wake()
	}
	return s.idle
}

// Poll emits up to out.Budget() events.
func (s *Source) Poll(out api.SourceContext) (api.SourceStatus, error) {
	if s.shard == nil {
		return api.EndOfInput, nil
	}
	for s.shard.Done() {
		if len(s.more) == 0 {
			return api.EndOfInput, nil
		}
		s.shard, s.more = s.more[0], s.more[1:]
	}
	n := max(1, out.Budget())
	if s.bucket != nil {
		now := time.Now()
		if n = s.bucket.Take(now, n); n == 0 {
			s.bucket.ArmWake(now)
			return api.NothingAvailable, nil
		}
	}
	generated := 0
	for range n {
		if !s.shard.Next(&s.ev) {
			break
		}
		generated++
		if s.enc != nil {
			s.enc.Encode(&s.ev, out)
			continue
		}
		if s.binary {
			s.buf = AppendBinary(s.buf[:0], &s.ev)
		} else {
			s.buf = AppendJSON(s.buf[:0], &s.ev)
		}
		out.CollectWithTimestamp(nil, s.buf, s.ev.Timestamp())
	}
	if s.enc != nil {
		s.events.Add(int64(generated))
		s.enc.Polled()
	}
	if len(s.more) > 0 { // take turns between owned shares
		s.more = append(s.more, s.shard)
		s.shard, s.more = s.more[0], s.more[1:]
	}
	return api.MoreAvailable, nil
}

// SnapshotState records the position and stride of every share of the
// stream this subtask owns.
func (s *Source) SnapshotState(int64) ([][]byte, error) {
	out := [][]byte{}
	for _, g := range append([]*Generator{s.shard}, s.more...) {
		if g == nil || g.Done() {
			continue
		}
		out = append(out, binary.AppendVarint(binary.AppendVarint(nil, g.next), g.stride))
	}
	return out, nil
}

// RestoreState takes the shares given to this subtask.
func (s *Source) RestoreState(entries [][]byte) error {
	s.restored = true
	for _, e := range entries {
		next, n := binary.Varint(e)
		var stride int64
		m := 0
		if n > 0 {
			stride, m = binary.Varint(e[n:])
		}
		if n <= 0 || m <= 0 || stride <= 0 {
			return fmt.Errorf("nexmark: malformed position in the checkpoint")
		}
		s.more = append(s.more, s.gen.at(next, stride))
	}
	return nil
}

// StateDistribution splits the shares over the new subtasks.
func (s *Source) StateDistribution() api.Distribution { return api.SplitDistribution }

// Close stops the pacing timer.
func (s *Source) Close() error {
	if s.bucket != nil {
		s.bucket.Stop()
	}
	return nil
}
