package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/eventtime"
	"github.com/freshet/freshet/engine/onerror"
)

// Counter names of the source (api.Context.Counter).
const (
	RecordsInCounter = "kafkaRecordsIn" // records emitted
	BytesInCounter   = "kafkaBytesIn"   // key, value and header bytes of the records read
)

// Source is one subtask of a Kafka source. It reads the partitions Owner
// gives it with a direct (group-less) franz-go consumer; a goroutine it owns
// polls the client and hands fetches to Poll over a channel, so Poll never
// waits on the network.
type Source struct {
	spec *sourceSpec

	ctx     api.Context
	name    string
	log     *slog.Logger
	cl      *kgo.Client
	adm     *kadm.Client
	cancel  context.CancelFunc
	bg      sync.WaitGroup // the goroutines below
	fetchCh chan kgo.Fetches
	wake    chan struct{}
	discCh  chan []*partState // discovered partitions, from the discovery goroutine
	commits chan kadm.Offsets // offsets to commit to the group, latest wins

	keyDe, valDe Deserializer
	keyBuf       []byte
	valBuf       []byte
	handler      *onerror.Handler
	dlq          *deadLetterTopic
	recordsIn    api.Counter
	bytesIn      api.Counter

	mu    sync.Mutex // guards parts and list against Lag
	parts map[TopicPartition]*partState
	list  []*partState // sorted by topic, partition

	// restored holds every offset entry of the checkpoint restored from
	// (all subtasks' under UnionDistribution); mine the ones this subtask
	// owns, kept in snapshots while their partitions are not read (a topic
	// missing for a while keeps its position). hasRestored: RestoreState
	// was called, so partitions the checkpoint does not know are new.
	restored    []offsetEntry
	hasRestored bool
	mine        map[TopicPartition]offsetEntry

	// The fetch being emitted, and where in it.
	fetches        kgo.Fetches
	fi, ti, pi, ri int
	entered        bool
	cur            *partState

	rec     api.Record
	hdrs    []api.Header
	lastWM  int64
	idle    bool
	removed map[string][]int32 // finished partitions to stop fetching

	pendingCommits []pendingCommit
}

type pendingCommit struct {
	id   int64
	offs kadm.Offsets
}

// partState is one partition the subtask reads.
type partState struct {
	tp   TopicPartition
	next int64 // the offset of the next record to emit
	stop int64 // bounded: stop before this offset; -1 unbounded
	done bool  // reached stop

	stopped    bool // done and no longer fetched
	gen        eventtime.Generator
	lastActive time.Time
	end        int64        // end offset (LSO or high watermark) at the last fetch
	lag        atomic.Int64 // end - next, for Lag
}

// Wake fires when a fetch is ready after Poll returned NothingAvailable.
func (s *Source) Wake() <-chan struct{} { return s.wake }

// StateDistribution is UnionDistribution: every subtask sees every
// partition's offset and keeps those Owner gives it, so the job can be
// restored with another parallelism.
func (s *Source) StateDistribution() api.Distribution { return api.UnionDistribution }

// RestoreState keeps the offsets of the checkpoint restored from; Open picks
// this subtask's partitions from them.
func (s *Source) RestoreState(entries [][]byte) error {
	s.restored = s.restored[:0]
	for i, b := range entries {
		kind, err := entryKind(b)
		if err == nil && kind != kindOffset {
			err = fmt.Errorf("%w: entry kind %d is not a kafka source offset (was this state written by a kafka sink?)", ErrCorruptState, kind)
		}
		var e offsetEntry
		if err == nil {
			e, err = decodeOffset(b)
		}
		if err != nil {
			return fmt.Errorf("kafka source: restoring entry %d of %d: %w", i, len(entries), err)
		}
		s.restored = append(s.restored, e)
	}
	// Restored even without entries: the checkpoint had this source, and
	// whatever partition it does not know is new since (start-from must
	// not apply to it, see Open).
	s.hasRestored = true
	return nil
}

// Open connects, lists the partitions this subtask owns, resolves where each
// starts (and, bounded, stops), and starts fetching.
func (s *Source) Open(ctx api.Context) (err error) {
	spec := s.spec
	s.ctx, s.name, s.log = ctx, ctx.OperatorName(), ctx.Logger()
	s.recordsIn, s.bytesIn = ctx.Counter(RecordsInCounter), ctx.Counter(BytesInCounter)
	s.parts = map[TopicPartition]*partState{}
	s.lastWM = api.MinWatermark
	s.wake = make(chan struct{}, 1)
	s.fetchCh = make(chan kgo.Fetches, 1)
	s.removed = map[string][]int32{}
	what := fmt.Sprintf("kafka source %q", s.name)

	if s.keyDe, err = spec.newKey(); err != nil {
		return fmt.Errorf("%s: making the key deserializer: %w", what, err)
	}
	if s.valDe, err = spec.newValue(); err != nil {
		return fmt.Errorf("%s: making the value deserializer: %w", what, err)
	}
	bgctx, cancel := context.WithCancel(ctx.Context())
	s.cancel = cancel
	defer func() {
		if err != nil {
			s.shutdown()
		}
	}()

	iso := kgo.ReadCommitted()
	if spec.Isolation == ReadUncommitted {
		iso = kgo.ReadUncommitted()
	}
	opts := append(spec.ClientConfig.opts(s.log),
		kgo.FetchIsolationLevel(iso),
		kgo.KeepControlRecords(), // they advance the position, which bounded mode needs to see
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.FetchMaxBytes(spec.FetchMaxBytes),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // offset out of range: restart at the log start
	)
	if s.cl, err = kgo.NewClient(opts...); err != nil {
		return fmt.Errorf("%s: creating the Kafka client: %w", what, err)
	}
	s.adm = kadm.NewClient(s.cl)
	if err := waitForBroker(bgctx, s.cl, &spec.ClientConfig, what); err != nil {
		return err
	}

	// The partitions to read: every partition the cluster lists and, when
	// bounded, every partition of the checkpoint too.
	sub, par := ctx.Subtask(), ctx.Parallelism()
	s.mine = map[TopicPartition]offsetEntry{}
	for _, e := range s.restored {
		tp := TopicPartition{e.Topic, e.Partition}
		if Owner(e.Topic, e.Partition, par) != sub {
			continue
		}
		// Positions only move forward: of two entries for one partition,
		// the further one is the later.
		if old, ok := s.mine[tp]; !ok || e.Next > old.Next {
			s.mine[tp] = e
		}
	}
	octx, ocancel := context.WithTimeout(bgctx, spec.ConnectTimeout)
	defer ocancel()
	all, err := s.listPartitions(octx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	var owned []TopicPartition
	for _, tp := range all {
		if Owner(tp.Topic, tp.Partition, par) == sub {
			owned = append(owned, tp)
		}
	}
	start := spec.StartFrom
	if s.hasRestored {
		start = StartEarliest // partitions the checkpoint does not know are new since
	}
	parts, err := s.resolve(octx, owned, s.mine, start, spec.Bounded)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	s.addPartitions(parts)

	// Bad records.
	if spec.OnError.Action == onerror.DeadLetter && spec.DeadLetterTopic != "" {
		if _, err := topicPartitions(octx, s.adm, []string{spec.DeadLetterTopic}, spec.ConnectTimeout); err != nil {
			return fmt.Errorf("%s: dead-letter-topic: %w", what, err)
		}
		s.dlq = &deadLetterTopic{cl: s.cl, topic: spec.DeadLetterTopic, source: s.name}
		s.handler = onerror.NewHandlerWriter(ctx, s.dlq)
	} else if s.handler, err = spec.OnError.NewHandler(ctx); err != nil {
		return err
	}

	s.bg.Add(1)
	go s.fetchLoop(bgctx)
	if !spec.Bounded && spec.DiscoveryInterval > 0 {
		s.discCh = make(chan []*partState, 1)
		known := make(map[TopicPartition]bool, len(all))
		for _, tp := range all {
			known[tp] = true
		}
		restored := make(map[TopicPartition]offsetEntry, len(s.mine))
		for tp, e := range s.mine {
			restored[tp] = e
		}
		s.bg.Add(1)
		go s.discoverLoop(bgctx, known, restored)
	}
	if spec.GroupID != "" {
		s.commits = make(chan kadm.Offsets, 1)
		s.bg.Add(1)
		go s.commitLoop(bgctx)
	}
	done := 0
	for _, p := range parts {
		if p.done {
			done++
		}
	}
	s.log.Info("kafka source open", "partitions", len(parts), "of", len(all), "done", done,
		"bounded", spec.Bounded, "bootstrap-servers", spec.servers(), "restored", s.hasRestored)
	return nil
}

// reads reports whether topic is one of the source's topics.
func (s *Source) reads(topic string) bool {
	if s.spec.pattern != nil {
		return s.spec.pattern.MatchString(topic)
	}
	return slices.Contains(s.spec.Topics, topic)
}

// listPartitions lists every partition of the source's topics, sorted. The
// list is complete (see topicPartitions); when bounded it also holds every
// restored partition this subtask owns of a topic the source reads: a
// checkpointed partition the metadata leaves out (a broker's stale view) is
// asked for again with backoff, and fails with ErrPartitionNotFound if it
// stays missing for the connect timeout. A bounded subtask that went on
// without it would end without reading it, and for good: the engine records
// an ended source subtask in the next checkpoint and never runs it again.
func (s *Source) listPartitions(ctx context.Context) ([]TopicPartition, error) {
	if !s.spec.Bounded {
		return s.listTopicPartitions(ctx)
	}
	var all []TopicPartition
	budget := func(err error) time.Duration {
		if errors.Is(err, ErrPartitionNotFound) {
			return s.spec.ConnectTimeout
		}
		return 0 // listTopicPartitions retried what it could
	}
	err := retryFor(ctx, budget, func() (err error) {
		if all, err = s.listTopicPartitions(ctx); err != nil {
			return err
		}
		listed := make(map[TopicPartition]bool, len(all))
		for _, tp := range all {
			listed[tp] = true
		}
		var missing []TopicPartition
		for tp := range s.mine {
			if s.reads(tp.Topic) && !listed[tp] {
				missing = append(missing, tp)
			}
		}
		if len(missing) > 0 {
			sortTPs(missing)
			return fmt.Errorf("%w: the checkpoint holds the position of %v, which the metadata of %s does not list", ErrPartitionNotFound, missing, s.spec.servers())
		}
		return nil
	})
	return all, err
}

// listTopicPartitions lists every partition of the source's topics, sorted.
func (s *Source) listTopicPartitions(ctx context.Context) ([]TopicPartition, error) {
	topics := s.spec.Topics
	if s.spec.pattern != nil {
		var details kadm.TopicDetails
		err := retryFor(ctx, whileTransient(s.spec.ConnectTimeout), func() (err error) {
			details, err = s.adm.ListTopics(ctx)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("listing topics of %s: %w", s.spec.servers(), err)
		}
		topics = nil
		for _, t := range details.Names() {
			if s.spec.pattern.MatchString(t) {
				topics = append(topics, t)
			}
		}
		if len(topics) == 0 {
			return nil, nil
		}
	}
	byTopic, err := topicPartitions(ctx, s.adm, topics, s.spec.ConnectTimeout)
	if err != nil {
		return nil, fmt.Errorf("on %s: %w", s.spec.servers(), err)
	}
	var out []TopicPartition
	for t, ps := range byTopic {
		for _, p := range ps {
			out = append(out, TopicPartition{t, p})
		}
	}
	sortTPs(out)
	return out, nil
}

// resolve makes the state of partitions tps: a checkpointed position if
// there is one, else where start says; and, bounded, a stop offset.
func (s *Source) resolve(ctx context.Context, tps []TopicPartition, restored map[TopicPartition]offsetEntry, start string, bounded bool) ([]*partState, error) {
	var fresh, needStop []TopicPartition
	out := make([]*partState, 0, len(tps))
	byTP := map[TopicPartition]*partState{}
	for _, tp := range tps {
		p := &partState{tp: tp, next: -1, stop: -1}
		if e, ok := restored[tp]; ok {
			p.next = e.Next
			if bounded {
				// The stop offset the partition got when it was first
				// assigned: a restored run ends where the first would
				// have, whatever was written since.
				p.stop = e.Stop
			}
		} else {
			fresh = append(fresh, tp)
		}
		if bounded && p.stop < 0 {
			if o, ok := s.spec.StopOffsets[tp]; ok {
				p.stop = o
			} else {
				needStop = append(needStop, tp)
			}
		}
		out = append(out, p)
		byTP[tp] = p
	}
	if len(fresh) > 0 {
		offs, err := s.startOffsets(ctx, fresh, start)
		if err != nil {
			return nil, err
		}
		for tp, o := range offs {
			byTP[tp].next = o
		}
	}
	if len(needStop) > 0 {
		offs, err := s.listOffsets(ctx, needStop, StartLatest, 0)
		if err != nil {
			return nil, fmt.Errorf("listing stop offsets: %w", err)
		}
		for tp, o := range offs {
			byTP[tp].stop = o
		}
	}
	return out, nil
}

// startOffsets resolves a start mode to offsets.
func (s *Source) startOffsets(ctx context.Context, tps []TopicPartition, start string) (map[TopicPartition]int64, error) {
	spec := s.spec
	switch start {
	case StartOffsets:
		out := map[TopicPartition]int64{}
		var rest []TopicPartition
		for _, tp := range tps {
			if o, ok := spec.StartOffsets[tp]; ok {
				out[tp] = o
			} else {
				rest = append(rest, tp)
			}
		}
		more, err := s.listOffsets(ctx, rest, StartEarliest, 0)
		for tp, o := range more {
			out[tp] = o
		}
		return out, err
	case StartCommitted:
		var resp kadm.OffsetResponses
		err := retryFor(ctx, whileTransient(maxRetry), func() (err error) {
			resp, err = s.adm.FetchOffsetsForTopics(ctx, spec.GroupID, topicsOf(tps)...)
			if err == nil {
				err = resp.Error()
			}
			if errors.Is(err, kerr.GroupIDNotFound) {
				resp, err = nil, nil // a group that never committed
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("fetching the offsets group %s committed: %w", spec.GroupID, err)
		}
		out := map[TopicPartition]int64{}
		var rest []TopicPartition
		for _, tp := range tps {
			if o, ok := resp.Lookup(tp.Topic, tp.Partition); ok && o.At >= 0 {
				out[tp] = o.At
			} else {
				rest = append(rest, tp)
			}
		}
		more, err := s.listOffsets(ctx, rest, spec.CommittedFallback, 0)
		for tp, o := range more {
			out[tp] = o
		}
		return out, err
	case StartTimestamp:
		return s.listOffsets(ctx, tps, StartTimestamp, spec.StartTimestamp.UnixMilli())
	}
	return s.listOffsets(ctx, tps, start, 0)
}

// listOffsets lists the earliest, latest (the last stable offset under
// read_committed) or first-after-ms offsets of tps. Transient errors (a
// leader not elected yet, a lost connection) and answers without an offset
// are asked for again with backoff until ctx is done: an offset of -1 taken
// for 0 would make a bounded partition end before its first record.
func (s *Source) listOffsets(ctx context.Context, tps []TopicPartition, mode string, ms int64) (map[TopicPartition]int64, error) {
	if len(tps) == 0 {
		return nil, nil
	}
	topics := topicsOf(tps)
	out := make(map[TopicPartition]int64, len(tps))
	err := retryFor(ctx, whileTransient(maxRetry), func() error {
		var listed kadm.ListedOffsets
		var err error
		switch mode {
		case StartEarliest:
			listed, err = s.adm.ListStartOffsets(ctx, topics...)
		case StartLatest:
			if s.spec.Isolation == ReadCommitted {
				listed, err = s.adm.ListCommittedOffsets(ctx, topics...)
			} else {
				listed, err = s.adm.ListEndOffsets(ctx, topics...)
			}
		case StartTimestamp:
			listed, err = s.adm.ListOffsetsAfterMilli(ctx, ms, topics...)
		default:
			return fmt.Errorf("unknown start mode %q", mode)
		}
		if err != nil {
			return err
		}
		for _, tp := range tps {
			o, ok := listed.Lookup(tp.Topic, tp.Partition)
			switch {
			case !ok:
				return fmt.Errorf("%s: %w", tp, kerr.UnknownTopicOrPartition)
			case o.Err != nil:
				return fmt.Errorf("%s: %w", tp, o.Err)
			case o.Offset < 0:
				return fmt.Errorf("%s: %w: offset %d", tp, errNotReady, o.Offset)
			}
			out[tp] = o.Offset
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s offsets: %w", mode, err)
	}
	return out, nil
}

// maxRetry is the retry budget of calls bounded by their context only.
const maxRetry = time.Duration(1<<63 - 1)

func topicsOf(tps []TopicPartition) []string {
	var out []string
	seen := map[string]bool{}
	for _, tp := range tps {
		if !seen[tp.Topic] {
			seen[tp.Topic] = true
			out = append(out, tp.Topic)
		}
	}
	return out
}

// addPartitions starts reading parts. Called from Open and Poll.
func (s *Source) addPartitions(parts []*partState) {
	if len(parts) == 0 {
		return
	}
	now := time.Now()
	add := map[string]map[int32]kgo.Offset{}
	s.mu.Lock()
	for _, p := range parts {
		if _, ok := s.parts[p.tp]; ok {
			continue
		}
		p.gen = s.spec.newGen()
		p.lastActive = now
		p.done = p.stop >= 0 && p.next >= p.stop
		s.parts[p.tp] = p
		s.list = append(s.list, p)
		delete(s.mine, p.tp) // now in s.parts
		if p.done {
			continue
		}
		if add[p.tp.Topic] == nil {
			add[p.tp.Topic] = map[int32]kgo.Offset{}
		}
		add[p.tp.Topic][p.tp.Partition] = kgo.NewOffset().At(p.next)
	}
	sortStates(s.list)
	s.mu.Unlock()
	s.cl.AddConsumePartitions(add)
}

func sortStates(ps []*partState) {
	tps := make([]TopicPartition, len(ps))
	idx := make(map[TopicPartition]*partState, len(ps))
	for i, p := range ps {
		tps[i] = p.tp
		idx[p.tp] = p
	}
	sortTPs(tps)
	for i, tp := range tps {
		ps[i] = idx[tp]
	}
}

// fetchLoop polls the client and hands each fetch to Poll.
func (s *Source) fetchLoop(ctx context.Context) {
	defer s.bg.Done()
	for {
		f := s.cl.PollFetches(ctx)
		if ctx.Err() != nil || f.IsClientClosed() {
			return
		}
		select {
		case s.fetchCh <- f:
		case <-ctx.Done():
			return
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// discoverLoop looks for new partitions every DiscoveryInterval.
func (s *Source) discoverLoop(ctx context.Context, known map[TopicPartition]bool, restored map[TopicPartition]offsetEntry) {
	defer s.bg.Done()
	t := time.NewTicker(s.spec.DiscoveryInterval)
	defer t.Stop()
	sub, par := s.ctx.Subtask(), s.ctx.Parallelism()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		dctx, cancel := context.WithTimeout(ctx, max(s.spec.DiscoveryInterval, 10*time.Second))
		all, err := s.listPartitions(dctx)
		var mine []TopicPartition
		if err == nil {
			for _, tp := range all {
				if !known[tp] && Owner(tp.Topic, tp.Partition, par) == sub {
					mine = append(mine, tp)
				}
			}
		}
		var parts []*partState
		if err == nil && len(mine) > 0 {
			// New partitions start at the earliest offset: every record
			// in them was written after the source started.
			parts, err = s.resolve(dctx, mine, restored, StartEarliest, false)
		}
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("kafka source: partition discovery failed, retrying at the next interval", "error", err)
			}
			continue
		}
		for _, tp := range all {
			known[tp] = true
		}
		if len(parts) == 0 {
			continue
		}
		s.log.Info("kafka source: discovered partitions", "count", len(parts))
		select {
		case s.discCh <- parts:
		case <-ctx.Done():
			return
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// commitLoop commits offsets to the group, for monitoring.
func (s *Source) commitLoop(ctx context.Context) {
	defer s.bg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case offs := <-s.commits:
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			resp, err := s.adm.CommitOffsets(cctx, s.spec.GroupID, offs)
			cancel()
			if err == nil {
				err = resp.Error()
			}
			if err != nil && ctx.Err() == nil {
				s.log.Warn("kafka source: committing offsets to the group failed (they are for monitoring only)",
					"group-id", s.spec.GroupID, "error", err)
			}
		}
	}
}

// Poll emits up to Budget records from the fetches the fetch goroutine
// delivered, then the source's watermark. It never blocks.
func (s *Source) Poll(out api.SourceContext) (api.SourceStatus, error) {
	now := time.Now()
	if s.discCh != nil {
		select {
		case parts := <-s.discCh:
			s.addPartitions(parts)
		default:
		}
	}
	budget := max(1, out.Budget())
	emitted, bytes := 0, 0
	var err error
	for emitted < budget && err == nil {
		if s.fetches == nil {
			select {
			case f := <-s.fetchCh:
				s.fetches, s.fi, s.ti, s.pi, s.ri, s.entered = f, 0, 0, 0, 0, false
			default:
			}
			if s.fetches == nil {
				break
			}
		}
		var n, b int
		n, b, err = s.drain(out, budget-emitted, now)
		emitted += n
		bytes += b
	}
	if emitted > 0 {
		s.recordsIn.Add(int64(emitted))
		s.bytesIn.Add(int64(bytes))
		s.idle = false
	}
	if err != nil {
		return api.MoreAvailable, err
	}
	s.stopFinished()
	if s.spec.Bounded && s.allDone() {
		s.log.Info("kafka source: every partition read to its stop offset", "partitions", len(s.list))
		return api.EndOfInput, nil
	}
	s.watermark(out, now)
	if emitted >= budget || s.fetches != nil || len(s.fetchCh) > 0 {
		return api.MoreAvailable, nil
	}
	return api.NothingAvailable, nil
}

// drain emits records of s.fetches from the cursor on, at most limit. It
// returns how many records it emitted (bad ones included) and their size.
func (s *Source) drain(out api.SourceContext, limit int, now time.Time) (n, size int, err error) {
	f := s.fetches
	for ; s.fi < len(f); s.fi, s.ti = s.fi+1, 0 {
		topics := f[s.fi].Topics
		for ; s.ti < len(topics); s.ti, s.pi = s.ti+1, 0 {
			t := &topics[s.ti]
			for ; s.pi < len(t.Partitions); s.pi, s.ri, s.entered = s.pi+1, 0, false {
				fp := &t.Partitions[s.pi]
				if !s.entered {
					s.entered = true
					if s.cur, err = s.enter(t.Topic, fp); err != nil {
						return n, size, err
					}
					if p := s.cur; p != nil {
						p.end = fp.HighWatermark
						if s.spec.Isolation == ReadCommitted && fp.LastStableOffset >= 0 {
							p.end = fp.LastStableOffset
						}
					}
				}
				p := s.cur
				for s.ri < len(fp.Records) {
					if n >= limit {
						if p != nil {
							p.lag.Store(max(p.end-p.next, 0))
						}
						return n, size, nil
					}
					r := fp.Records[s.ri]
					s.ri++
					if p == nil || p.done || r.Offset < p.next {
						continue
					}
					k, err := s.record(out, p, r, now)
					n += k
					size += len(r.Key) + len(r.Value)
					for i := range r.Headers {
						size += len(r.Headers[i].Key) + len(r.Headers[i].Value)
					}
					if err != nil {
						return n, size, err
					}
				}
				if p != nil {
					p.lag.Store(max(p.end-p.next, 0))
				}
			}
		}
	}
	s.fetches = nil
	return n, size, nil
}

// enter starts on a fetched partition: it checks the partition's error and
// returns its state (nil for a partition this subtask does not read).
func (s *Source) enter(topic string, fp *kgo.FetchPartition) (*partState, error) {
	if err := fp.Err; err != nil {
		var loss *kgo.ErrDataLoss
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, kgo.ErrClientClosed):
			return nil, nil // closing
		case errors.As(err, &loss):
			s.log.Warn("kafka source: data loss, the broker's log is shorter than the position; continuing where the broker allows",
				"topic", loss.Topic, "partition", loss.Partition, "consumed-to", loss.ConsumedTo, "reset-to", loss.ResetTo)
		default:
			return nil, fmt.Errorf("kafka source %q: fetching %s/%d: %w", s.name, topic, fp.Partition, err)
		}
	}
	return s.parts[TopicPartition{topic, fp.Partition}], nil
}

// record emits one Kafka record of partition p, or hands it to the on-error
// policy. It returns 1 for a data record, 0 for a control record.
func (s *Source) record(out api.SourceContext, p *partState, r *kgo.Record, now time.Time) (int, error) {
	if p.stop >= 0 && r.Offset >= p.stop {
		p.done = true
		return 0, nil
	}
	p.next = r.Offset + 1
	p.done = p.stop >= 0 && p.next >= p.stop
	if r.Attrs.IsControl() {
		return 0, nil
	}
	key, err := s.keyDe.Deserialize(s.keyBuf, r.Key)
	if err != nil {
		return 1, s.bad(p, r, "key", err)
	}
	s.keyBuf = keep(s.keyBuf, key, r.Key)
	val, err := s.valDe.Deserialize(s.valBuf, r.Value)
	if err != nil {
		return 1, s.bad(p, r, "value", err)
	}
	s.valBuf = keep(s.valBuf, val, r.Value)

	s.hdrs = s.hdrs[:0]
	if !s.spec.DropHeaders {
		for i := range r.Headers {
			h := &r.Headers[i]
			// A view of the header key: CollectRecord copies it.
			k := unsafe.Slice(unsafe.StringData(h.Key), len(h.Key))
			s.hdrs = append(s.hdrs, api.Header{Key: k, Value: h.Value})
		}
	}
	s.rec = api.Record{Key: key, Value: val, Timestamp: api.NoTimestamp, Headers: s.hdrs}
	switch s.spec.Timestamp {
	case TimestampRecord:
		s.rec.Timestamp = r.Timestamp.UnixMilli()
	case TimestampNone:
	default:
		ts, err := s.spec.assigner.Timestamp(&s.rec)
		if err != nil {
			return 1, s.bad(p, r, "timestamp", err)
		}
		s.rec.Timestamp = ts
	}
	if s.spec.Timestamp != TimestampNone {
		p.gen.OnEvent(&s.rec, s.rec.Timestamp)
		p.lastActive = now
	}
	out.CollectRecord(&s.rec)
	return 1, nil
}

// keep returns the buffer to decode into next time: got when the
// deserializer built it in buf's memory (possibly grown), else buf.
func keep(buf, got, raw []byte) []byte {
	if cap(got) == 0 || (len(raw) > 0 && unsafe.SliceData(got) == unsafe.SliceData(raw)) {
		return buf
	}
	return got[:0]
}

// bad hands record r, which could not be read, to the on-error policy.
func (s *Source) bad(p *partState, r *kgo.Record, what string, err error) error {
	pos := position(p.tp.Topic, p.tp.Partition, r.Offset)
	if s.dlq != nil {
		s.dlq.record = r
		defer func() { s.dlq.record = nil }()
	}
	return s.handler.Handle(pos, r.Value, fmt.Errorf("%s: %w", what, err))
}

// position names a record: "topic/partition/offset".
func position(topic string, partition int32, offset int64) string {
	return topic + "/" + strconv.FormatInt(int64(partition), 10) + "/" + strconv.FormatInt(offset, 10)
}

// stopFinished stops fetching partitions that reached their stop offset.
func (s *Source) stopFinished() {
	if !s.spec.Bounded {
		return
	}
	n := 0
	for _, p := range s.list {
		if p.done && !p.stopped {
			s.removed[p.tp.Topic] = append(s.removed[p.tp.Topic], p.tp.Partition)
			p.stopped = true
			p.lag.Store(0)
			n++
		}
	}
	if n > 0 {
		s.cl.RemoveConsumePartitions(s.removed)
		clear(s.removed)
	}
}

// allDone reports whether a bounded subtask has read everything it owns:
// every partition it reads up to its stop offset, and no restored position
// of one of its topics left unread (Open adds those to the partitions it
// reads, or fails).
func (s *Source) allDone() bool {
	for _, p := range s.list {
		if !p.done {
			return false
		}
	}
	for _, e := range s.mine {
		if (e.Stop < 0 || e.Next < e.Stop) && s.reads(e.Topic) {
			return false
		}
	}
	return true
}

// watermark emits the minimum over the partitions that are neither
// finished nor idle, or marks the source idle when there are none.
func (s *Source) watermark(out api.SourceContext, now time.Time) {
	wm, active := api.MaxWatermark, 0
	if s.spec.Timestamp != TimestampNone {
		for _, p := range s.list {
			if p.done || (s.spec.IdleTimeout > 0 && now.Sub(p.lastActive) >= s.spec.IdleTimeout) {
				continue
			}
			active++
			wm = min(wm, p.gen.OnPeriodicEmit())
		}
	} else {
		for _, p := range s.list {
			if !p.done {
				active++
			}
		}
		wm = api.MinWatermark
	}
	if active == 0 {
		if !s.idle {
			if im, ok := out.(api.IdleMarker); ok {
				im.MarkIdle()
			}
			s.idle = true
		}
		return
	}
	if wm > s.lastWM {
		out.EmitWatermark(wm)
		s.lastWM = wm
		s.idle = false
	}
}

// SnapshotState returns the position of every partition the subtask owns.
// Dead letters written so far are flushed first, so none is lost once the
// checkpoint moves past its record.
func (s *Source) SnapshotState(id int64) ([][]byte, error) {
	if s.dlq != nil {
		ctx, cancel := context.WithTimeout(s.ctx.Context(), 30*time.Second)
		err := s.dlq.flush(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("kafka source %q: checkpoint %d: %w", s.name, id, err)
		}
	}
	entries := make([][]byte, 0, len(s.list)+len(s.mine))
	var offs kadm.Offsets
	if s.spec.GroupID != "" {
		offs = kadm.Offsets{}
	}
	for _, p := range s.list {
		entries = append(entries, offsetEntry{p.tp.Topic, p.tp.Partition, p.next, p.stop}.encode())
		if offs != nil {
			offs.Add(kadm.Offset{Topic: p.tp.Topic, Partition: p.tp.Partition, At: p.next, LeaderEpoch: -1})
		}
	}
	for _, e := range s.mine {
		entries = append(entries, e.encode())
	}
	if offs != nil {
		s.pendingCommits = append(s.pendingCommits, pendingCommit{id, offs})
		if len(s.pendingCommits) > 32 { // checkpoints that never complete
			s.pendingCommits = s.pendingCommits[1:]
		}
	}
	return entries, nil
}

// NotifyCheckpointComplete commits the offsets of checkpoint id to the
// consumer group, in the background. They are for monitoring (lag
// dashboards) only: the source restarts from its checkpoints, never from
// the group.
func (s *Source) NotifyCheckpointComplete(id int64) error {
	var latest kadm.Offsets
	i := 0
	for ; i < len(s.pendingCommits) && s.pendingCommits[i].id <= id; i++ {
		latest = s.pendingCommits[i].offs
	}
	s.pendingCommits = s.pendingCommits[i:]
	if latest == nil || s.commits == nil {
		return nil
	}
	select {
	case s.commits <- latest:
	default:
		select { // replace the older offsets still waiting
		case <-s.commits:
		default:
		}
		s.commits <- latest
	}
	return nil
}

// NotifyCheckpointAborted drops nothing: the offsets of an aborted
// checkpoint are committed with the next completed one's.
func (s *Source) NotifyCheckpointAborted(int64) error { return nil }

// PartitionLag is the consumer lag of one partition.
type PartitionLag struct {
	TopicPartition
	// Lag is the number of offsets between the source's position and the
	// end of the partition (its last stable offset under read_committed)
	// as of the last fetch.
	Lag int64
}

// Lag returns the consumer lag of every partition the subtask reads, sorted
// by topic and partition. It is safe to call from any goroutine.
func (s *Source) Lag() []PartitionLag {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PartitionLag, len(s.list))
	for i, p := range s.list {
		out[i] = PartitionLag{p.tp, p.lag.Load()}
	}
	return out
}

// Close stops the goroutines and the client and closes the dead-letter
// output.
func (s *Source) Close() error {
	return s.shutdown()
}

func (s *Source) shutdown() error {
	if s.cancel != nil {
		s.cancel()
	}
	var errs []error
	if s.handler != nil {
		if err := s.handler.Close(); err != nil {
			errs = append(errs, fmt.Errorf("kafka source %q: closing dead-letter output: %w", s.name, err))
		}
		s.handler = nil
	}
	if s.cl != nil {
		s.cl.Close() // ends PollFetches
	}
	s.bg.Wait()
	for _, d := range []Deserializer{s.keyDe, s.valDe} {
		if c, ok := d.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("kafka source %q: closing deserializer: %w", s.name, err))
			}
		}
	}
	s.keyDe, s.valDe, s.cl = nil, nil, nil
	return errors.Join(errs...)
}
