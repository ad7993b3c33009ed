package task

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/checkpoint"
	"github.com/freshet/freshet/engine/graph"
	"github.com/freshet/freshet/engine/internal/codec"
	"github.com/freshet/freshet/engine/internal/network"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/memory"
	"github.com/freshet/freshet/engine/state"
)

// State is the lifecycle state of a task.
type State int32

const (
	Created State = iota
	Running
	Finished
	Canceled
	Failed
)

func (s State) String() string {
	switch s {
	case Created:
		return "CREATED"
	case Running:
		return "RUNNING"
	case Finished:
		return "FINISHED"
	case Canceled:
		return "CANCELED"
	case Failed:
		return "FAILED"
	}
	return "UNKNOWN"
}

// Terminal reports whether s is final.
func (s State) Terminal() bool { return s >= Finished }

// Deployment describes one subtask to run.
type Deployment struct {
	JobID   string
	Graph   *graph.JobGraph
	Vertex  *graph.JobVertex
	Subtask int
	Attempt int
	// Checkpoint enables checkpointing (nil: off).
	Checkpoint *CheckpointSettings
	// Restore is the checkpoint or savepoint to start from (nil: none).
	Restore *checkpoint.Checkpoint
	// SourceFinished marks a source subtask that had read all its input
	// before the checkpoint it is restored from: it ends at once.
	SourceFinished bool
	// Overrides replace the constructors of some nodes (by node ID): the
	// module version a hot-swap or a restored checkpoint says to run.
	Overrides map[int]func() (api.Operator, error)
}

// Name is "vertex name (i/p)".
func (d *Deployment) Name() string {
	return fmt.Sprintf("%s (%d/%d)", d.Vertex.Name, d.Subtask+1, d.Vertex.Parallelism)
}

// StateFactory makes the keyed state backend of one keyed operator subtask.
type StateFactory func(opts state.Options) (state.Backend, error)

// Env is what the TaskManager gives its tasks.
type Env struct {
	Network *network.Network
	Memory  *memory.Manager
	State   StateFactory
	Logger  *slog.Logger
	// Dir is a local working directory for state backends.
	Dir string
	// BufferTimeout bounds how long a partly filled output buffer waits
	// before it is sent while the task is busy (default 100 ms).
	BufferTimeout time.Duration
	// SourceBatch is the number of records a source is asked for per poll.
	SourceBatch int
	// OnState is called on every state change of the task.
	OnState func(t *Task, s State, err error)
	// OnCheckpoint acknowledges (err == nil) or declines a checkpoint.
	OnCheckpoint func(t *Task, id int64, snaps []checkpoint.OperatorSnapshot, err error)
}

// Task is one running subtask.
type Task struct {
	d   Deployment
	env Env
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}

	state atomic.Int32
	err   error

	nodes   []*opRuntime // chain, in order; nodes[0] is the head
	source  api.Source
	srcCtx  *sourceContext
	gate    *network.InputGate
	readers []codec.Reader
	inBatch *api.Batch
	chWM    []int64
	chEnded []bool
	nEnded  int
	pools   []*memory.Pool
	writers []*network.RecordWriter

	chIdle   []bool
	deadline time.Time // next processing-time timer or tick; zero: none
	asyncErr error     // failure inside a callback that cannot return one

	stopRequested bool // Stop: end the source

	// Barrier alignment.
	alignID   int64
	alignSeen []bool
	alignN    int
	alignFlag uint32
	asyncWG   sync.WaitGroup // checkpoint writers

	watermark int64
	wm        atomic.Int64 // watermark, for readers outside the task
	lastFlush time.Time
	mailbox   chan func() error

	// Time accounting, in nanoseconds.
	idle, backPressured atomic.Int64
	quietSince          time.Time // since when the task has had no records and its watermark has not moved (zero: it has)
	started             atomic.Int64
}

// New prepares a task; Run executes it.
func New(d Deployment, env Env) *Task {
	if env.BufferTimeout <= 0 {
		env.BufferTimeout = 100 * time.Millisecond
	}
	if env.SourceBatch <= 0 {
		env.SourceBatch = 1024
	}
	if env.Logger == nil {
		env.Logger = slog.Default()
	}
	t := &Task{d: d, env: env, done: make(chan struct{}), mailbox: make(chan func() error, 16), watermark: api.MinWatermark}
	t.log = env.Logger.With("job", d.JobID, "task", d.Name())
	t.ctx, t.cancel = context.WithCancelCause(context.Background())
	for _, n := range d.Vertex.Nodes {
		t.nodes = append(t.nodes, &opRuntime{task: t, node: n, out: api.NewBatch(256), watermark: api.MinWatermark})
	}
	t.wm.Store(api.MinWatermark)
	return t
}

// Deployment returns what the task runs.
func (t *Task) Deployment() *Deployment { return &t.d }

// State returns the task's current state.
func (t *Task) State() State { return State(t.state.Load()) }

// Err returns the failure cause of a failed task.
func (t *Task) Err() error {
	<-t.done
	return t.err
}

// Done is closed when the task has stopped.
func (t *Task) Done() <-chan struct{} { return t.done }

// Cancel stops the task; it ends in state Canceled unless it already ended.
func (t *Task) Cancel() { t.cancel(context.Canceled) }

// Stop ends a source task gracefully: the source is polled no more and the
// task finishes as if the input had ended, except that event time does not
// jump to the end (no final watermark). Everything downstream finishes in
// turn, so sinks flush and commit. Stop does nothing to a task without a
// source: it ends when its inputs end.
func (t *Task) Stop() bool {
	if len(t.d.Vertex.Inputs) > 0 {
		return false
	}
	for i := 0; i < 100; i++ {
		if t.Post(func() error { t.stopRequested = true; return nil }) {
			return true
		}
		select {
		case <-t.done:
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return false
}

// Post runs fn on the task goroutine between batches. It returns false if
// the mailbox is full or the task has stopped.
func (t *Task) Post(fn func() error) bool {
	select {
	case <-t.done:
		return false
	case t.mailbox <- fn:
		return true
	default:
		return false
	}
}

func (t *Task) setState(s State, err error) {
	t.state.Store(int32(s))
	if t.env.OnState != nil {
		t.env.OnState(t, s, err)
	}
}

// Run executes the task until it finishes, fails or is cancelled.
func (t *Task) Run() {
	defer close(t.done)
	t.started.Store(time.Now().UnixNano())
	t.setState(Running, nil)
	err := t.runProtected()
	cleanupErr := t.cleanup()
	if err == nil {
		err = cleanupErr
	}
	switch {
	case err == nil:
		t.setState(Finished, nil)
	case errors.Is(context.Cause(t.ctx), context.Canceled) && t.ctx.Err() != nil:
		t.setState(Canceled, nil)
	default:
		t.err = err
		t.log.Error("task failed", "err", err)
		t.setState(Failed, err)
	}
	t.cancel(context.Canceled)
}

func (t *Task) runProtected() (err error) {
	defer func() {
		if r := recover(); r != nil {
			t.log.Debug("panic in task", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("%s: panic: %v", t.d.Name(), r)
		}
	}()
	if err := t.setup(); err != nil {
		return err
	}
	if t.source != nil {
		return t.runSource()
	}
	return t.runGate()
}

// setup builds the chain, opens operators and connects the network.
func (t *Task) setup() error {
	v := t.d.Vertex
	jg := t.d.Graph
	byID := map[int]*opRuntime{}
	for _, o := range t.nodes {
		byID[o.node.ID] = o
	}
	for _, e := range v.Internal {
		from := byID[e.From]
		from.next = append(from.next, byID[e.To])
	}
	// Output writers, one per network edge.
	for _, je := range v.Outputs {
		from := byID[je.Edge.From]
		nCons := je.Target.Parallelism
		var chans []*network.Channel
		if je.Edge.Partitioning == graph.Forward {
			chans = []*network.Channel{t.env.Network.Channel(network.ChannelID{Job: t.d.JobID, Edge: je.ID, Producer: t.d.Subtask, Consumer: t.d.Subtask})}
		} else {
			for c := 0; c < nCons; c++ {
				chans = append(chans, t.env.Network.Channel(network.ChannelID{Job: t.d.JobID, Edge: je.ID, Producer: t.d.Subtask, Consumer: c}))
			}
		}
		poolName := fmt.Sprintf("%s/%s/out-%d", t.d.JobID, t.d.Name(), je.ID)
		pool, err := t.env.Memory.CreatePool(poolName, len(chans)*(t.env.Network.Credits()+1))
		if err != nil {
			return fmt.Errorf("allocating network buffers for %s: %w", t.d.Name(), err)
		}
		t.pools = append(t.pools, pool)
		w := network.NewRecordWriter(chans, pool, je.Edge.Partitioning, je.Edge.KeySelector, jg.MaxParallelism, t.d.Subtask, &t.backPressured)
		t.writers = append(t.writers, w)
		if je.Edge.SideOutput != "" {
			from.sideWriters(je.Edge.SideOutput, w)
		} else {
			from.writers = append(from.writers, w)
		}
	}
	for _, e := range v.Internal {
		if e.SideOutput != "" {
			return fmt.Errorf("side output %q of %q cannot be chained", e.SideOutput, t.d.Graph.Stream.Nodes[e.From].Name)
		}
	}
	// Input gate.
	if len(v.Inputs) > 0 {
		var chans []*network.Channel
		var inputs []int
		for _, je := range v.Inputs {
			if je.Edge.Partitioning == graph.Forward {
				chans = append(chans, t.env.Network.Channel(network.ChannelID{Job: t.d.JobID, Edge: je.ID, Producer: t.d.Subtask, Consumer: t.d.Subtask}))
				inputs = append(inputs, je.Edge.Input)
				continue
			}
			for p := 0; p < je.Source.Parallelism; p++ {
				chans = append(chans, t.env.Network.Channel(network.ChannelID{Job: t.d.JobID, Edge: je.ID, Producer: p, Consumer: t.d.Subtask}))
				inputs = append(inputs, je.Edge.Input)
			}
		}
		t.gate = network.NewInputGate(chans, inputs)
		t.readers = make([]codec.Reader, len(chans))
		t.chWM = make([]int64, len(chans))
		for i := range t.chWM {
			t.chWM[i] = api.MinWatermark
		}
		t.chEnded = make([]bool, len(chans))
		t.chIdle = make([]bool, len(chans))
		t.alignSeen = make([]bool, len(chans))
		t.inBatch = api.NewBatch(1024)
	}
	for _, je := range v.Inputs {
		if je.Edge.Input > 1 {
			return fmt.Errorf("%s: input %d of %q: operators have at most two inputs", t.d.Name(), je.Edge.Input, v.Head().Name)
		}
	}
	// Open the head source and every operator, downstream first so that a
	// source never emits into an operator that is not open yet.
	for i := len(t.nodes) - 1; i >= 0; i-- {
		o := t.nodes[i]
		if err := o.open(); err != nil {
			return err
		}
	}
	return nil
}

func (t *Task) cleanup() error {
	t.asyncWG.Wait()
	var errs []error
	for _, o := range t.nodes {
		if err := o.close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, w := range t.writers {
		w.Close()
	}
	if t.gate != nil {
		t.gate.Close()
	}
	for _, p := range t.pools {
		p.Destroy()
	}
	return errors.Join(errs...)
}

// runSource is the mailbox loop of a task whose head is a source.
func (t *Task) runSource() error {
	head := t.nodes[0]
	var wake <-chan struct{}
	if w, ok := t.source.(api.Waker); ok {
		wake = w.Wake()
	}
	if t.d.SourceFinished {
		t.log.Info("source had finished before the checkpoint; not reading again")
		if err := t.advanceWatermark(api.MaxWatermark); err != nil {
			return err
		}
		return t.finish()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	backoff := time.Millisecond
	for {
		if err := t.drainMailbox(); err != nil {
			return err
		}
		if err := t.ctx.Err(); err != nil {
			return context.Cause(t.ctx)
		}
		if t.stopRequested {
			t.log.Info("source stopped on request")
			return t.finish()
		}
		if t.sourcePaused() {
			// Watermark alignment: this source ran ahead of its group.
			if err := t.flushAll(); err != nil {
				return err
			}
			timer.Reset(t.untilDeadline(10 * time.Millisecond))
			start := time.Now()
			select {
			case <-timer.C:
			case fn := <-t.mailbox:
				if !timer.Stop() {
					<-timer.C
				}
				if err := fn(); err != nil {
					return err
				}
			case <-t.ctx.Done():
			}
			t.idle.Add(int64(time.Since(start)))
			if err := t.checkTime(); err != nil {
				return err
			}
			continue
		}
		status, err := t.source.Poll(t.srcCtx)
		if err != nil {
			return fmt.Errorf("source %q: %w", head.node.Name, err)
		}
		if err := t.srcCtx.flush(); err != nil {
			return err
		}
		if err := t.takeAsyncErr(); err != nil {
			return err
		}
		if err := t.checkTime(); err != nil {
			return err
		}
		switch status {
		case api.EndOfInput:
			if err := t.advanceWatermark(api.MaxWatermark); err != nil {
				return err
			}
			return t.finish()
		case api.MoreAvailable:
			backoff = time.Millisecond
			t.quietSince = time.Time{}
			if err := t.maybeFlush(); err != nil {
				return err
			}
		case api.NothingAvailable:
			if err := t.flushAll(); err != nil {
				return err
			}
			if more, err := t.idleWork(); err != nil || more {
				if err != nil {
					return err
				}
				continue // poll again before more idle work
			}
			if t.quietSince.IsZero() {
				t.quietSince = time.Now()
			}
			timer.Reset(t.untilDeadline(backoff))
			start := time.Now()
			select {
			case <-wake:
			case <-timer.C:
				backoff = min(backoff*2, 50*time.Millisecond)
			case fn := <-t.mailbox:
				t.idle.Add(int64(time.Since(start)))
				if err := fn(); err != nil {
					return err
				}
				continue
			case <-t.ctx.Done():
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			t.idle.Add(int64(time.Since(start)))
		}
	}
}

// runGate is the mailbox loop of a task fed by an input gate.
func (t *Task) runGate() error {
	head := t.nodes[0]
	flushTimer := time.NewTimer(time.Hour)
	defer flushTimer.Stop()
	idleTimer := time.NewTimer(time.Hour)
	defer idleTimer.Stop()
	for {
		if err := t.drainMailbox(); err != nil {
			return err
		}
		if err := t.checkTime(); err != nil {
			return err
		}
		ch, buf, ok := t.gate.Poll()
		if !ok {
			if err := t.flushAll(); err != nil {
				return err
			}
			if more, err := t.idleWork(); err != nil || more {
				if err != nil {
					return err
				}
				continue // look at the input again before more idle work
			}
			var deadline <-chan time.Time
			if !t.deadline.IsZero() {
				flushTimer.Reset(t.untilDeadline(time.Hour))
				deadline = flushTimer.C
			}
			// Idle work starts once the task has been quiet for idleAfter.
			var quiet <-chan time.Time
			if t.quietSince.IsZero() {
				t.quietSince = time.Now()
			}
			if t.hasIdleWork() {
				idleTimer.Reset(max(0, idleAfter-time.Since(t.quietSince)))
				quiet = idleTimer.C
			}
			start := time.Now()
			select {
			case <-quiet:
				quiet = nil
			case <-deadline:
			case <-t.gate.Notify():
			case fn := <-t.mailbox:
				t.idle.Add(int64(time.Since(start)))
				if err := fn(); err != nil {
					return err
				}
				continue
			case <-t.ctx.Done():
				t.idle.Add(int64(time.Since(start)))
				return context.Cause(t.ctx)
			}
			t.idle.Add(int64(time.Since(start)))
			if deadline != nil && !flushTimer.Stop() {
				select {
				case <-flushTimer.C:
				default:
				}
			}
			if quiet != nil && !idleTimer.Stop() {
				select {
				case <-idleTimer.C:
				default:
				}
			}
			continue
		}
		switch buf.Kind {
		case network.Data:
			t.quietSince = time.Time{} // records and watermark advances, not barriers, end the quiet
			err := t.readers[ch].Read(buf.Bytes(), t.inBatch)
			if err == nil {
				if t.gate.Input(ch) == 1 {
					err = head.process2(t.inBatch)
				} else {
					err = head.process(t.inBatch)
				}
			} else {
				err = fmt.Errorf("%s: reading input channel %d: %w", t.d.Name(), ch, err)
			}
			if err == nil {
				err = t.takeAsyncErr()
			}
			t.inBatch.Reset()
			t.gate.Recycle(ch, buf)
			if err != nil {
				return err
			}
			if err := t.maybeFlush(); err != nil {
				return err
			}
		case network.Watermark:
			if buf.Value > t.chWM[ch] {
				t.chWM[ch] = buf.Value
			}
			t.chIdle[ch] = false
			if err := t.updateWatermark(); err != nil {
				return err
			}
		case network.Idle:
			t.chIdle[ch] = buf.Value == 1
			if err := t.updateWatermark(); err != nil {
				return err
			}
		case network.Barrier:
			if err := t.onBarrier(ch, buf.Value, buf.Flags); err != nil {
				return err
			}
		case network.EndOfPartition:
			if !t.chEnded[ch] {
				t.chEnded[ch] = true
				t.nEnded++
			}
			if t.alignN > 0 {
				if err := t.checkAligned(); err != nil {
					return err
				}
			}
			if t.nEnded == len(t.chEnded) {
				return t.finish()
			}
			if err := t.updateWatermark(); err != nil {
				return err
			}
		}
	}
}

// onBarrier handles checkpoint id's barrier on channel ch. With exactly-once,
// the channel is blocked until the barrier has arrived on every channel, so
// no record after the barrier is processed before the snapshot.
func (t *Task) onBarrier(ch int, id int64, flags uint32) error {
	if id < t.alignID {
		return nil // a barrier of a checkpoint this task already gave up
	}
	if id > t.alignID {
		if t.alignN > 0 {
			// A newer checkpoint overtook one that never aligned (it was
			// aborted upstream): abandon the old one.
			t.log.Warn("abandoning checkpoint alignment", "checkpoint", t.alignID, "newer", id)
			t.unblockAll()
		}
		t.alignID, t.alignFlag, t.alignN = id, flags, 0
		clear(t.alignSeen)
	}
	if t.alignSeen[ch] {
		return nil
	}
	t.alignSeen[ch] = true
	t.alignN++
	if t.d.Checkpoint == nil || !t.d.Checkpoint.AtLeastOnce {
		t.gate.Block(ch)
	}
	return t.checkAligned()
}

// checkAligned takes the snapshot once every open channel delivered the barrier.
func (t *Task) checkAligned() error {
	for i := range t.alignSeen {
		if !t.alignSeen[i] && !t.chEnded[i] {
			return nil
		}
	}
	id := t.alignID
	t.alignN = 0
	err := t.performCheckpoint(id, t.alignFlag)
	t.unblockAll()
	return err
}

func (t *Task) unblockAll() {
	for i := range t.alignSeen {
		if t.alignSeen[i] {
			t.gate.Unblock(i)
		}
	}
	clear(t.alignSeen)
}

// pauser is implemented by operators that can hold back their source
// (watermark alignment, see engine/eventtime).
type pauser interface{ PauseSource() bool }

// sourcePaused reports whether an operator chained to the source asks it
// to stop polling for now.
func (t *Task) sourcePaused() bool {
	for _, o := range t.nodes[1:] {
		if p, ok := o.op.(pauser); ok && p.PauseSource() {
			return true
		}
	}
	return false
}

// updateWatermark advances the task's watermark to the minimum over the
// channels that have neither ended nor gone idle. When every open channel is
// idle, the task's outputs go idle too.
func (t *Task) updateWatermark() error {
	wm := api.MaxWatermark
	active := 0
	open := 0
	for i, w := range t.chWM {
		if t.chEnded[i] {
			continue
		}
		open++
		if t.chIdle[i] {
			continue
		}
		active++
		if w < wm {
			wm = w
		}
	}
	if open > 0 && active == 0 {
		return t.nodes[0].setIdle(true)
	}
	if wm > t.watermark {
		return t.advanceWatermark(wm)
	}
	return nil
}

func (t *Task) advanceWatermark(wm int64) error {
	if wm <= t.watermark {
		return nil
	}
	t.watermark = wm
	t.wm.Store(wm)
	t.quietSince = time.Time{} // event time moves: the job is not quiet
	if err := t.nodes[0].processWatermark(wm); err != nil {
		return err
	}
	return t.takeAsyncErr()
}

func (t *Task) takeAsyncErr() error {
	err := t.asyncErr
	t.asyncErr = nil
	return err
}

// noteDeadline makes sure the loop wakes up by d.
func (t *Task) noteDeadline(d time.Time) {
	if t.deadline.IsZero() || d.Before(t.deadline) {
		t.deadline = d
	}
}

// untilDeadline is how long the loop may wait: at most max, less when a
// timer or tick is due sooner.
func (t *Task) untilDeadline(limit time.Duration) time.Duration {
	if t.deadline.IsZero() {
		return limit
	}
	return min(limit, max(time.Until(t.deadline), 0))
}

// checkTime fires due processing-time timers and ticks.
func (t *Task) checkTime() error {
	if t.deadline.IsZero() {
		return nil
	}
	now := time.Now()
	if now.Before(t.deadline) {
		return nil
	}
	t.deadline = time.Time{}
	for _, o := range t.nodes {
		if err := o.onTime(now); err != nil {
			return err
		}
		if d, ok := o.nextDeadline(); ok {
			t.noteDeadline(d)
		}
	}
	return t.takeAsyncErr()
}

// finish runs at the end of all input: every operator emits what it holds,
// and every output channel is told the partition ended.
func (t *Task) finish() error {
	if err := t.nodes[0].finish(); err != nil {
		return err
	}
	for _, w := range t.writers {
		if err := w.BroadcastEvent(t.ctx, network.Buffer{Kind: network.EndOfPartition}); err != nil {
			return err
		}
	}
	return nil
}

func (t *Task) drainMailbox() error {
	for {
		select {
		case fn := <-t.mailbox:
			if err := fn(); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func (t *Task) maybeFlush() error {
	if len(t.writers) == 0 {
		return nil
	}
	now := time.Now()
	if now.Sub(t.lastFlush) < t.env.BufferTimeout {
		return nil
	}
	return t.flushAll()
}

// idleAfter is how long a task must go without records and without its
// watermark moving before its state backends do their idle work: a
// pipeline's tasks wait for input for moments all the time, and an
// operator fed in bursts (a mini-batch upstream) waits longer while event
// time moves on; that work (RocksDB writes) is only worth its CPU when the
// job has gone quiet.
const idleAfter = 100 * time.Millisecond

// idleWork gives the first operator whose state backend has work to do
// while the task waits (state.IdleWorker) one slice of it, once the task
// has been quiet for idleAfter, and says whether the task should look at
// its input and come back for more rather than block.
func (t *Task) idleWork() (bool, error) {
	if t.quietSince.IsZero() || time.Since(t.quietSince) < idleAfter {
		return false, nil
	}
	for _, n := range t.nodes {
		w, ok := n.backend.(state.IdleWorker)
		if !ok {
			continue
		}
		more, err := w.IdleWork()
		if err != nil {
			return false, n.fail("writing state back while idle", err)
		}
		if more {
			return true, nil
		}
	}
	return false, nil
}

// hasIdleWork says whether a state backend of the task has idle work.
func (t *Task) hasIdleWork() bool {
	for _, n := range t.nodes {
		if w, ok := n.backend.(state.IdleWorker); ok && w.HasIdleWork() {
			return true
		}
	}
	return false
}

func (t *Task) flushAll() error {
	t.lastFlush = time.Now()
	for _, w := range t.writers {
		if err := w.Flush(t.ctx); err != nil {
			return err
		}
	}
	return nil
}

// Watermark returns the task's current watermark.
func (t *Task) Watermark() int64 { return t.wm.Load() }

// keyedStateOptions returns the state options of keyed node n in this subtask.
func (t *Task) keyedStateOptions(n *graph.Node) state.Options {
	maxP := t.d.Graph.MaxParallelism
	dir := ""
	if t.env.Dir != "" {
		dir = filepath.Join(t.env.Dir, checkpoint.FileName(n.Name, t.d.Subtask, t.d.Attempt)+".db")
	}
	return state.Options{
		Operator:       n.Name,
		MaxParallelism: maxP,
		KeyGroups:      keygroup.RangeOf(t.d.Subtask, n.Parallelism, maxP),
		Dir:            dir,
	}
}
