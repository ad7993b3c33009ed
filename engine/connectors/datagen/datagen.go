// Package datagen is the `datagen` source: synthetic rows, seeded and
// deterministic, bounded or unbounded, paced or flat out.
//
//	sources:
//	  - name: clicks
//	    type: datagen
//	    count: 1000000        # rows in total; absent means unbounded
//	    rows-per-second: 5000 # total over all subtasks; absent means flat out
//	    seed: 7
//	    key: {kind: int, min: 0, max: 999}
//	    value: json
//	    fields:
//	      user:   {kind: word}
//	      amount: {kind: int, min: 1, max: 100}
//	      id:     sequence
//
// Row n (counted from 0 over the whole source) is a pure function of the seed
// and n: subtask i of p generates rows i, i+p, i+2p, ..., so the rows of a job
// are the same at every parallelism. Rows carry no event time.
//
// Generators (for key, value, and each JSON field; a bare string is the kind
// with its defaults):
//
//	sequence   start (0), end (optional: wraps around after end)  start+n
//	int        min (0), max (999)                                  uniform
//	float      min (0), max (1)                                    uniform
//	bool                                                           true/false
//	string     length (10)                                         [a-z0-9]
//	word                                                           from a fixed list of 100 words
//	timestamp  max-past (0)   processing time in ms, minus up to max-past
//	json       (value only) an object with the `fields` generators, in name order
//	none       (key only, the default) no key
//
// The pacing is a token bucket against the wall clock: when it is empty Poll
// returns api.NothingAvailable and the source's Wake channel (api.Waker)
// fires when the next row is due, so the task never spins.
//
// This mirrors a small subset of Flink's datagen connector (kinds random and
// sequence, min/max, length, start/end, rows-per-second, number-of-rows).
package datagen

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/internal/ratelimit"
	"github.com/freshet/freshet/engine/connectors/internal/rng"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// Register adds the datagen source to r.
func Register(r *registry.Registry) {
	r.AddSource("datagen", "synthetic rows: sequences, words, random JSON objects; seeded, bounded or unbounded, optionally paced", Build)
}

// Build validates a datagen source's params.
func Build(p *params.Params) (func() (api.Source, error), error) {
	cfg := &config{
		count: -1,
		seed:  uint64(p.Int("seed", 0)),
		rate:  p.Float("rows-per-second", 0),
		key:   parseGen(p, "key", "none", false, true),
		value: parseGen(p, "value", "sequence", true, false),
	}
	if p.Has("count") {
		cfg.count = p.IntRange("count", 0, 0, math.MaxInt64)
	}
	if cfg.rate < 0 || math.IsNaN(cfg.rate) || math.IsInf(cfg.rate, 0) {
		p.Errorf("rows-per-second", "must be a positive number (or absent for no limit), got %v", cfg.rate)
		cfg.rate = 0
	}
	if cfg.value.kind == kindJSON {
		fp := p.Sub("fields")
		names := fp.Keys()
		if len(names) == 0 {
			p.Errorf("fields", "value is json but no fields are given")
		}
		for _, name := range names {
			g := parseGen(fp, name, "", false, false)
			g.jsonName = jsonKey(name)
			cfg.fields = append(cfg.fields, g)
		}
	} else if _, ok := p.Raw("fields"); ok {
		p.Errorf("fields", "fields are only used with value: json")
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return func() (api.Source, error) { return &Source{cfg: cfg}, nil }, nil
}

type kind uint8

const (
	kindNone kind = iota
	kindSequence
	kindInt
	kindFloat
	kindBool
	kindString
	kindWord
	kindTimestamp
	kindJSON
)

var kindNames = map[string]kind{
	"none": kindNone, "sequence": kindSequence, "int": kindInt, "float": kindFloat, "bool": kindBool,
	"string": kindString, "word": kindWord, "timestamp": kindTimestamp, "json": kindJSON,
}

// gen generates one key, value or JSON field.
type gen struct {
	kind       kind
	start, end int64
	wraps      bool
	min, span  int64 // int: min + [0, span)
	fmin, fmax float64
	length     int
	maxPast    int64 // ms
	jsonName   []byte
}

func parseGen(p *params.Params, name, def string, allowJSON, allowNone bool) *gen {
	allowed := []string{"sequence", "int", "float", "bool", "string", "word", "timestamp"}
	if allowJSON {
		allowed = append(allowed, "json")
	}
	if allowNone {
		allowed = append(allowed, "none")
	}
	g := &gen{kind: kindNames[def]}
	raw, ok := p.Raw(name)
	if !ok {
		if def == "" {
			p.Required(name)
		}
		g.defaults()
		return g
	}
	sub := params.New(p.Path()+"."+name, raw.Pos, nil)
	if _, isMap := raw.V.(map[string]params.Value); isMap {
		sub = p.Sub(name)
		if !sub.Required("kind") {
			return g
		}
		g.kind = kindNames[sub.Enum("kind", def, allowed...)]
	} else {
		g.kind = kindNames[p.Enum(name, def, allowed...)]
	}
	g.defaults()
	switch g.kind {
	case kindSequence:
		g.start = sub.Int("start", 0)
		if sub.Has("end") {
			g.end = sub.Int("end", 0)
			g.wraps = true
			if g.end < g.start {
				sub.Errorf("end", "%d is before start %d", g.end, g.start)
			} else if g.end-g.start+1 <= 0 {
				sub.Errorf("end", "range start..end is too large")
			}
		}
	case kindInt:
		lo, hi := sub.Int("min", 0), sub.Int("max", 999)
		if hi < lo {
			sub.Errorf("max", "%d is below min %d", hi, lo)
		} else if hi-lo+1 <= 0 {
			sub.Errorf("max", "range min..max is too large")
		} else {
			g.min, g.span = lo, hi-lo+1
		}
	case kindFloat:
		g.fmin, g.fmax = sub.Float("min", 0), sub.Float("max", 1)
		if !(g.fmax >= g.fmin) || math.IsInf(g.fmax-g.fmin, 0) {
			sub.Errorf("max", "%v is not a finite number at or above min %v", g.fmax, g.fmin)
		}
	case kindString:
		g.length = int(sub.IntRange("length", 10, 1, 1<<20))
	case kindTimestamp:
		d := sub.Duration("max-past", 0)
		if d < 0 {
			sub.Errorf("max-past", "must not be negative")
		}
		g.maxPast = max(0, d.Milliseconds())
	}
	return g
}

func (g *gen) defaults() {
	g.span, g.fmax, g.length = 1000, 1, 10
}

// Words is the fixed list the word generator draws from.
var Words = [...]string{
	"apple", "river", "stone", "cloud", "tiger", "maple", "ocean", "piano", "eagle", "candle",
	"forest", "silver", "garden", "rocket", "winter", "harbor", "lemon", "meadow", "falcon", "copper",
	"breeze", "canyon", "dragon", "ember", "feather", "glacier", "hollow", "island", "jungle", "kettle",
	"lantern", "marble", "nectar", "orchid", "pepper", "quartz", "raven", "saddle", "thunder", "umbrella",
	"velvet", "willow", "yarrow", "zephyr", "anchor", "bridge", "cedar", "dune", "echo", "fjord",
	"grove", "horizon", "iris", "jade", "koala", "lagoon", "mango", "nova", "olive", "pebble",
	"quill", "reef", "summit", "tulip", "urchin", "valley", "walnut", "xenon", "yeti", "zebra",
	"amber", "basil", "coral", "delta", "fable", "ginger", "hazel", "ivory", "juniper", "kiwi",
	"lilac", "mist", "noble", "opal", "prism", "quiet", "ridge", "spruce", "timber", "unity",
	"vortex", "wander", "yonder", "zenith", "acorn", "blossom", "cobalt", "drift", "flint", "glow",
}

const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// append appends the generator's value for row n, drawing from r.
func (g *gen) append(dst []byte, n int64, r *rng.Rand, nowMs int64, inJSON bool) []byte {
	switch g.kind {
	case kindSequence:
		v := g.start + n
		if g.wraps {
			v = g.start + n%(g.end-g.start+1)
		}
		return strconv.AppendInt(dst, v, 10)
	case kindInt:
		return strconv.AppendInt(dst, g.min+r.Intn(g.span), 10)
	case kindFloat:
		return strconv.AppendFloat(dst, g.fmin+r.Float64()*(g.fmax-g.fmin), 'f', -1, 64)
	case kindBool:
		if r.Uint64()&1 == 1 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case kindString:
		if inJSON {
			dst = append(dst, '"')
		}
		var bits uint64
		for i := range g.length {
			if i%12 == 0 { // 36^12 < 2^64
				bits = r.Uint64()
			}
			dst = append(dst, alphabet[bits%36])
			bits /= 36
		}
		if inJSON {
			dst = append(dst, '"')
		}
		return dst
	case kindWord:
		if inJSON {
			dst = append(dst, '"')
		}
		dst = append(dst, Words[r.Intn(int64(len(Words)))]...)
		if inJSON {
			dst = append(dst, '"')
		}
		return dst
	case kindTimestamp:
		return strconv.AppendInt(dst, nowMs-r.Intn(g.maxPast+1), 10)
	}
	return dst
}

// jsonKey returns name as a JSON object key followed by a colon.
func jsonKey(name string) []byte {
	b, _ := json.Marshal(name) // a string always marshals
	return append(b, ':')
}

type config struct {
	count  int64 // -1: unbounded
	seed   uint64
	rate   float64
	key    *gen
	value  *gen
	fields []*gen
}

func (c *config) needsNow() bool {
	if c.key.kind == kindTimestamp || c.value.kind == kindTimestamp {
		return true
	}
	for _, f := range c.fields {
		if f.kind == kindTimestamp {
			return true
		}
	}
	return false
}

// Source is one subtask of a datagen source.
type Source struct {
	cfg       *config
	next      int64 // next row number of the current split
	stride    int64
	remaining int64 // -1: unbounded
	// splits are the further row sequences this subtask owns after a
	// restore at another parallelism; it takes turns between them.
	splits   []split
	restored bool
	bucket   *ratelimit.Bucket
	idle     chan struct{}
	needsNow bool
	keyBuf   []byte
	valBuf   []byte
}

// Open positions the subtask on its rows.
func (s *Source) Open(ctx api.Context) error {
	i, p := int64(ctx.Subtask()), int64(ctx.Parallelism())
	if p < 1 || i < 0 || i >= p {
		return fmt.Errorf("datagen %q: subtask %d of %d is out of range", ctx.OperatorName(), i, p)
	}
	if !s.restored {
		s.next, s.stride, s.remaining = i, p, -1
		if c := s.cfg.count; c >= 0 {
			s.remaining = 0
			if i < c {
				s.remaining = (c-i-1)/p + 1
			}
		}
	} else if !s.nextSplit() {
		s.remaining = 0
	}
	if s.cfg.rate > 0 {
		s.bucket = ratelimit.New(s.cfg.rate / float64(p))
	}
	s.idle = make(chan struct{})
	s.needsNow = s.cfg.needsNow()
	s.keyBuf = make([]byte, 0, 64)
	s.valBuf = make([]byte, 0, 256)
	return nil
}

// Wake fires when a paced source has rows due again.
func (s *Source) Wake() <-chan struct{} {
	if s.bucket != nil {
		return s.bucket.Wake()
	}
	return s.idle
}

// split is a sequence of rows: next, next+stride, ... (remaining of them, or
// without end when remaining is -1).
type split struct{ next, stride, remaining int64 }

// nextSplit makes the next owned split current, keeping an unfinished
// current one in turn. It reports false when no rows are left.
func (s *Source) nextSplit() bool {
	if s.stride > 0 && s.remaining != 0 {
		s.splits = append(s.splits, split{s.next, s.stride, s.remaining})
	}
	if len(s.splits) == 0 {
		return false
	}
	sp := s.splits[0]
	s.splits = s.splits[1:]
	s.next, s.stride, s.remaining = sp.next, sp.stride, sp.remaining
	return true
}

// SnapshotState records every split this subtask owns, so a restore (at any
// parallelism) continues exactly where the rows stopped.
func (s *Source) SnapshotState(int64) ([][]byte, error) {
	var out [][]byte
	add := func(sp split) {
		if sp.remaining == 0 {
			return
		}
		e := binary.AppendVarint(nil, sp.next)
		e = binary.AppendVarint(e, sp.stride)
		out = append(out, binary.AppendVarint(e, sp.remaining))
	}
	add(split{s.next, s.stride, s.remaining})
	for _, sp := range s.splits {
		add(sp)
	}
	if out == nil {
		out = [][]byte{} // a finished subtask still has state: nothing left
	}
	return out, nil
}

// RestoreState takes the splits given to this subtask.
func (s *Source) RestoreState(entries [][]byte) error {
	s.restored = true
	s.stride = 0
	for _, e := range entries {
		var sp split
		var n, m, k int
		sp.next, n = binary.Varint(e)
		if n > 0 {
			sp.stride, m = binary.Varint(e[n:])
		}
		if n > 0 && m > 0 {
			sp.remaining, k = binary.Varint(e[n+m:])
		}
		if n <= 0 || m <= 0 || k <= 0 || sp.stride <= 0 {
			return fmt.Errorf("datagen: malformed position in the checkpoint")
		}
		s.splits = append(s.splits, sp)
	}
	return nil
}

// StateDistribution splits the row sequences over the new subtasks.
func (s *Source) StateDistribution() api.Distribution { return api.SplitDistribution }

// Poll emits up to out.Budget() rows.
func (s *Source) Poll(out api.SourceContext) (api.SourceStatus, error) {
	if s.remaining == 0 && !s.nextSplit() {
		return api.EndOfInput, nil
	}
	n := max(1, out.Budget())
	if s.remaining > 0 {
		n = int(min(int64(n), s.remaining))
	}
	if s.bucket != nil {
		now := time.Now()
		if n = s.bucket.Take(now, n); n == 0 {
			s.bucket.ArmWake(now)
			return api.NothingAvailable, nil
		}
	}
	var nowMs int64
	if s.needsNow {
		nowMs = out.ProcessingTime().UnixMilli()
	}
	cfg := s.cfg
	for range n {
		row := s.next
		s.next += s.stride
		r := rng.New(rng.Mix(cfg.seed, uint64(row)))
		var key []byte
		if cfg.key.kind != kindNone {
			s.keyBuf = cfg.key.append(s.keyBuf[:0], row, &r, nowMs, false)
			key = s.keyBuf
		}
		v := s.valBuf[:0]
		if cfg.value.kind == kindJSON {
			v = append(v, '{')
			for i, f := range cfg.fields {
				if i > 0 {
					v = append(v, ',')
				}
				v = append(v, f.jsonName...)
				v = f.append(v, row, &r, nowMs, true)
			}
			v = append(v, '}')
		} else {
			v = cfg.value.append(v, row, &r, nowMs, false)
		}
		s.valBuf = v
		out.Collect(key, v)
	}
	if s.remaining > 0 {
		s.remaining -= int64(n)
	}
	if len(s.splits) > 0 {
		s.nextSplit() // take turns between owned splits
	}
	return api.MoreAvailable, nil
}

// Close stops the pacing timer.
func (s *Source) Close() error {
	if s.bucket != nil {
		s.bucket.Stop()
	}
	return nil
}
