package nexmark

import (
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// LatencyMode says what the latency of a query's results is measured from.
// The sink measures every latency as its own receive time minus a start
// time, both from the wall clock of this process.
type LatencyMode uint8

const (
	// LatencyStamped: from the time a nexmark-view (chained to the source)
	// emitted the record that produced the result, carried in the record's
	// StampHeader. Results that carry no stamp are not sampled. For
	// record-at-a-time queries (q0–q3), where a result follows from one
	// input record.
	LatencyStamped LatencyMode = iota + 1
	// LatencyEventTime: from the time every source subtask had emitted the
	// event time at which the result became due: its timestamp (a window's
	// end - 1, an auction's expiry) plus the watermark delay, or the end of
	// input when that came first. For results of event-time windows and
	// timers (q4, q5, q7, q8, q11).
	LatencyEventTime
	// LatencyProcessingTime: from the end of the processing-time window the
	// result belongs to (its timestamp + 1 ms). For q12.
	LatencyProcessingTime
)

func (m LatencyMode) String() string {
	switch m {
	case LatencyStamped:
		return "record"
	case LatencyEventTime:
		return "event time"
	case LatencyProcessingTime:
		return "window end"
	}
	return "none"
}

// Probe measures a job from the inside: nexmark-view operators stamp
// records and log how far in event time each has emitted; the probe sink
// counts results and samples their latency. One Probe serves one run; it is
// safe for concurrent use by the job's subtasks.
type Probe struct {
	mode       LatencyMode
	stampEvery int64
	due        int64 // ms added to an event-time result's timestamp

	results atomic.Int64
	mu      sync.Mutex
	logs    map[logID]*emitLog
	samples []int64 // ns
}

type logID struct {
	op      string
	subtask int
}

// NewProbe returns a probe for one run. A nexmark-view stamps every
// stampEvery-th row it emits (0: none); due is the watermark delay of an
// event-time query.
func NewProbe(mode LatencyMode, stampEvery int64, due time.Duration) *Probe {
	return &Probe{mode: mode, stampEvery: stampEvery, due: due.Milliseconds(), logs: map[logID]*emitLog{}}
}

// maxSamples bounds the samples one sink subtask keeps.
const maxSamples = 1 << 20

// Results is the number of records the probe sinks received.
func (p *Probe) Results() int64 { return p.results.Load() }

// Latency returns the median and 99th percentile of the sampled latencies
// and the number of samples (nearest rank; zeros without samples).
func (p *Probe) Latency() (p50, p99 time.Duration, n int) {
	p.mu.Lock()
	s := slices.Clone(p.samples)
	p.mu.Unlock()
	if len(s) == 0 {
		return 0, 0, 0
	}
	slices.Sort(s)
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return time.Duration(s[max(0, min(i, len(s)-1))])
	}
	return rank(0.50), rank(0.99), len(s)
}

func (p *Probe) emitLog(op string, subtask int) *emitLog {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := logID{op, subtask}
	l := p.logs[id]
	if l == nil {
		l = &emitLog{}
		p.logs[id] = l
	}
	return l
}

// dueSince returns the wall time (ns) by which every view subtask had
// emitted event time t, or had emitted all it did when it never reached t.
func (p *Probe) dueSince(t int64) (int64, bool) {
	p.mu.Lock()
	logs := make([]*emitLog, 0, len(p.logs))
	for _, l := range p.logs {
		logs = append(logs, l)
	}
	p.mu.Unlock()
	var at int64
	found := false
	for _, l := range logs {
		if w, ok := l.reached(t); ok {
			at, found = max(at, w), true
		}
	}
	return at, found
}

// emitLog records, for one view subtask, the wall time at which its event
// time (the largest timestamp it saw) first reached each value.
type emitLog struct {
	mu   sync.Mutex
	ts   []int64
	wall []int64
}

func (l *emitLog) add(ts, wall int64) {
	l.mu.Lock()
	if n := len(l.ts); n == 0 || ts > l.ts[n-1] {
		l.ts = append(l.ts, ts)
		l.wall = append(l.wall, wall)
	}
	l.mu.Unlock()
}

// reached returns the wall time event time first reached t, or the last
// wall time when it never did; false when nothing was logged.
func (l *emitLog) reached(t int64) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ts) == 0 {
		return 0, false
	}
	i := sort.Search(len(l.ts), func(i int) bool { return l.ts[i] >= t })
	if i == len(l.ts) {
		i--
	}
	return l.wall[i], true
}

// buildProbeSink reads a nexmark-probe sink (it has no fields).
func buildProbeSink(p *Probe) registry.OperatorBuilder {
	return func(ps *params.Params) (registry.Operator, error) {
		if err := ps.Err(); err != nil {
			return registry.Operator{}, err
		}
		return registry.Operator{New: func() (api.Operator, error) { return &probeSink{p: p}, nil }}, nil
	}
}

// probeSink is one subtask of the nexmark-probe sink: it drops results
// after counting them and sampling their latency (every record for stamped
// and processing-time queries, every eventTimeSample-th for event time,
// whose start time costs a lookup).
type probeSink struct {
	api.BaseOperator
	p       *Probe
	n       int64
	samples []int64
}

const eventTimeSample = 8

func (s *probeSink) ProcessBatch(in *api.Batch, _ api.Output) error {
	if s.p == nil {
		return nil
	}
	s.p.results.Add(int64(len(in.Records)))
	now := time.Now().UnixNano()
	for i := range in.Records {
		r := &in.Records[i]
		var start int64
		switch s.p.mode {
		case LatencyStamped:
			t, ok := stampOf(r)
			if !ok {
				continue
			}
			start = t
		case LatencyEventTime:
			s.n++
			if s.n%eventTimeSample != 1 || !r.HasTimestamp() {
				continue
			}
			t, ok := s.p.dueSince(addSat(r.Timestamp, s.p.due))
			if !ok {
				continue
			}
			start = t
		case LatencyProcessingTime:
			if !r.HasTimestamp() {
				continue
			}
			start = (r.Timestamp + 1) * int64(time.Millisecond)
		default:
			continue
		}
		if len(s.samples) < maxSamples {
			s.samples = append(s.samples, max(now-start, 0))
		}
	}
	return nil
}

// Close hands the samples to the probe.
func (s *probeSink) Close() error {
	if s.p == nil {
		return nil
	}
	s.p.mu.Lock()
	s.p.samples = append(s.p.samples, s.samples...)
	s.p.mu.Unlock()
	s.samples = nil
	return nil
}

func addSat(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
