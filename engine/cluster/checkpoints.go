package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/freshet/freshet/engine/checkpoint"
	"github.com/freshet/freshet/engine/internal/failpoint"
	"github.com/freshet/freshet/engine/internal/task"
)

// CheckpointConfig configures a job's checkpoints.
type CheckpointConfig struct {
	// Interval between periodic checkpoints; 0 disables them (savepoints
	// still work).
	Interval time.Duration
	// AtLeastOnce skips barrier alignment.
	AtLeastOnce bool
	// Timeout aborts a checkpoint that has not completed (default 10 min).
	Timeout time.Duration
	// MinPause is the least time between the end of one checkpoint and the
	// start of the next.
	MinPause time.Duration
	// Retain is the number of complete checkpoints kept (default 3).
	Retain int
	// Dir is the checkpoint directory (default: a temporary directory).
	Dir string
}

// CheckpointStats describes one checkpoint or savepoint.
type CheckpointStats struct {
	ID        int64         `json:"id"`
	Savepoint bool          `json:"savepoint"`
	Status    string        `json:"status"` // IN_PROGRESS, COMPLETED, FAILED
	Trigger   time.Time     `json:"triggerTime"`
	Duration  time.Duration `json:"duration"`
	// Size is the full size of the checkpoint's state, including files
	// an incremental checkpoint shares with earlier ones.
	Size int64 `json:"stateSize"`
	// CheckpointedSize is what this checkpoint wrote: equal to Size for a
	// savepoint or a canonical checkpoint, the new files only for an
	// incremental (native) one.
	CheckpointedSize int64 `json:"checkpointedSize"`
	// SyncDuration is the longest synchronous snapshot pause of a task.
	SyncDuration time.Duration `json:"syncDuration"`
	Tasks        int           `json:"acknowledgedSubtasks"`
	Path         string        `json:"externalPath,omitempty"`
	Error        string        `json:"failure,omitempty"`
}

// ErrCheckpointDeclined marks a checkpoint a task could not take.
var ErrCheckpointDeclined = errors.New("checkpoint declined")

// coordinator triggers a job's checkpoints, collects acknowledgements, and
// completes a checkpoint by writing its metadata last.
type coordinator struct {
	jm  *JobManager
	j   *job
	cfg CheckpointConfig
	st  *checkpoint.Storage

	mu       sync.Mutex
	nextID   int64
	pending  *pendingCheckpoint
	lastEnd  time.Time
	latest   *checkpoint.Checkpoint
	history  []CheckpointStats
	requests chan savepointRequest
}

type pendingCheckpoint struct {
	id        int64
	attempt   int
	flags     uint32
	start     time.Time
	dir       *checkpoint.Pending
	target    string // savepoint directory
	waiting   map[ExecutionID]bool
	finished  []checkpoint.FinishedSource
	snaps     []checkpoint.OperatorSnapshot
	size      int64
	uploaded  int64
	sync      time.Duration
	acks      int
	done      chan error
	statIndex int
}

type savepointRequest struct {
	dir  string
	stop bool
	res  chan savepointResult
}

type savepointResult struct {
	path string
	err  error
}

func newCoordinator(jm *JobManager, j *job, cfg CheckpointConfig) *coordinator {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.Retain <= 0 {
		cfg.Retain = 3
	}
	return &coordinator{
		jm: jm, j: j, cfg: cfg,
		st:       &checkpoint.Storage{Dir: cfg.Dir, Retain: cfg.Retain, Log: jm.log},
		nextID:   checkpoint.LatestID(cfg.Dir) + 1,
		requests: make(chan savepointRequest),
	}
}

// run triggers periodic checkpoints and savepoint requests until the job ends.
func (c *coordinator) run(ctx context.Context, done <-chan struct{}) {
	var tick <-chan time.Time
	if c.cfg.Interval > 0 {
		t := time.NewTicker(c.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	timeout := time.NewTicker(time.Second)
	defer timeout.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			c.abort(errors.New("the job ended"))
			return
		case <-tick:
			c.mu.Lock()
			busy := c.pending != nil || time.Since(c.lastEnd) < c.cfg.MinPause
			c.mu.Unlock()
			if !busy {
				if _, err := c.trigger(0, ""); err != nil {
					c.jm.log.Debug("checkpoint not triggered", "job", c.j.id, "err", err)
				}
			}
		case r := <-c.requests:
			c.jm.wg.Add(1)
			go func() {
				defer c.jm.wg.Done()
				c.savepoint(r)
			}()
		case <-timeout.C:
			c.mu.Lock()
			p := c.pending
			c.mu.Unlock()
			if p != nil && time.Since(p.start) > c.cfg.Timeout {
				c.abort(fmt.Errorf("checkpoint %d timed out after %s", p.id, c.cfg.Timeout))
			}
		}
	}
}

// savepoint triggers a savepoint, waiting for a running checkpoint to end first.
func (c *coordinator) savepoint(r savepointRequest) {
	flags := task.FlagSavepoint
	if r.stop {
		flags |= task.FlagStop
	}
	deadline := time.Now().Add(c.cfg.Timeout)
	for {
		done, err := c.trigger(flags, r.dir)
		if err == errBusy && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil {
			r.res <- savepointResult{err: err}
			return
		}
		err = <-done
		r.res <- savepointResult{path: r.dir, err: err}
		return
	}
}

var errBusy = errors.New("a checkpoint is in progress")

// trigger starts a checkpoint (or a savepoint into target).
func (c *coordinator) trigger(flags uint32, target string) (<-chan error, error) {
	done, _, err := c.triggerWithID(flags, target)
	return done, err
}

// triggerWithID is trigger, also returning the checkpoint's ID.
func (c *coordinator) triggerWithID(flags uint32, target string) (<-chan error, int64, error) {
	jm, j := c.jm, c.j
	jm.mu.Lock()
	if st := j.state; st != JobRunning {
		jm.mu.Unlock()
		return nil, 0, fmt.Errorf("job is %s", st)
	}
	var sources []ExecutionID
	var finished []checkpoint.FinishedSource
	waiting := map[ExecutionID]bool{}
	for eid, s := range j.tasks {
		if v := j.graph.Vertices[eid.Vertex]; s == task.Finished && len(v.Inputs) == 0 {
			finished = append(finished, checkpoint.FinishedSource{Operator: v.Head().Name, Subtask: eid.Subtask, Parallelism: v.Parallelism})
		}
		switch s {
		case task.Created:
			jm.mu.Unlock()
			return nil, 0, errors.New("not every task is running yet")
		case task.Running:
			waiting[eid] = true
			if len(j.graph.Vertices[eid.Vertex].Inputs) == 0 {
				sources = append(sources, eid)
			}
		}
	}
	attempt := j.attempt
	placed := j.placed
	jm.mu.Unlock()
	if len(sources) == 0 {
		return nil, 0, errors.New("no source is running")
	}

	c.mu.Lock()
	if c.pending != nil {
		c.mu.Unlock()
		return nil, 0, errBusy
	}
	id := c.nextID
	c.nextID++
	dir, err := c.st.Begin(id)
	if err != nil {
		c.history = append(c.history, CheckpointStats{ID: id, Savepoint: target != "", Status: "FAILED", Trigger: time.Now(), Error: err.Error()})
		c.lastEnd = time.Now()
		c.mu.Unlock()
		return nil, 0, err
	}
	p := &pendingCheckpoint{id: id, attempt: attempt, flags: flags, start: time.Now(), dir: dir, target: target, waiting: waiting, finished: finished, done: make(chan error, 1)}
	c.pending = p
	p.statIndex = len(c.history)
	c.history = append(c.history, CheckpointStats{ID: id, Savepoint: target != "", Status: "IN_PROGRESS", Trigger: p.start})
	if len(c.history) > 100 {
		drop := len(c.history) - 100
		c.history = append(c.history[:0], c.history[drop:]...)
		p.statIndex -= drop
	}
	c.mu.Unlock()

	for _, eid := range sources {
		if err := placed[eid].TriggerCheckpoint(context.Background(), eid, id, flags); err != nil {
			c.decline(eid, id, fmt.Errorf("triggering at %s: %w", eid, err))
		}
	}
	return p.done, id, nil
}

// acknowledge records a task's snapshot of checkpoint id.
func (c *coordinator) acknowledge(eid ExecutionID, id int64, snaps []checkpoint.OperatorSnapshot) {
	c.mu.Lock()
	p := c.pending
	if p == nil || p.id != id || eid.Attempt != p.attempt || !p.waiting[eid] {
		c.mu.Unlock()
		return
	}
	delete(p.waiting, eid)
	p.snaps = append(p.snaps, snaps...)
	for _, s := range snaps {
		p.size += s.Subtask.StateSize()
		p.uploaded += s.Uploaded
		p.sync = max(p.sync, s.SyncDuration)
	}
	p.acks++
	ready := len(p.waiting) == 0
	c.mu.Unlock()
	if ready {
		c.complete(p)
	}
}

// taskFinished stops waiting for a task that ended (its input ran out).
func (c *coordinator) taskFinished(eid ExecutionID) {
	c.mu.Lock()
	p := c.pending
	if p == nil || !p.waiting[eid] {
		c.mu.Unlock()
		return
	}
	delete(p.waiting, eid)
	// A source that ended before it took this checkpoint's snapshot has sent
	// everything downstream (its channels ended, which counts as aligned):
	// record it finished, so a restore does not read its input again.
	if v := c.j.graph.Vertices[eid.Vertex]; len(v.Inputs) == 0 {
		p.finished = append(p.finished, checkpoint.FinishedSource{Operator: v.Head().Name, Subtask: eid.Subtask, Parallelism: v.Parallelism})
	}
	ready := len(p.waiting) == 0
	c.mu.Unlock()
	if ready {
		c.complete(p)
	}
}

func (c *coordinator) decline(eid ExecutionID, id int64, err error) {
	c.mu.Lock()
	p := c.pending
	c.mu.Unlock()
	if p == nil || p.id != id {
		return
	}
	c.abort(fmt.Errorf("%w by %s: %v", ErrCheckpointDeclined, eid, err))
}

// abort ends the pending checkpoint, if any, as failed.
func (c *coordinator) abort(err error) {
	c.mu.Lock()
	p := c.pending
	if p == nil {
		c.mu.Unlock()
		return
	}
	c.pending = nil
	c.lastEnd = time.Now()
	st := &c.history[p.statIndex]
	st.Status, st.Error, st.Duration = "FAILED", err.Error(), time.Since(p.start)
	c.mu.Unlock()
	p.dir.Abort()
	c.jm.log.Warn("checkpoint failed", "job", c.j.id, "checkpoint", p.id, "err", err)
	c.jm.emit(Event{Type: EventCheckpointFailed, Job: c.j.id, Checkpoint: p.id, Message: err.Error()})
	c.notify(p.id, false)
	p.done <- err
}

// complete writes the checkpoint's metadata (making it count), then tells
// every task.
func (c *coordinator) complete(p *pendingCheckpoint) {
	j := c.j
	par := map[string]int{}
	for _, v := range j.graph.Vertices {
		for _, n := range v.Nodes {
			par[n.Name] = n.Parallelism
		}
	}
	meta := checkpoint.BuildMetadata(p.id, j.graph.JobName, j.graph.MaxParallelism, par, p.snaps)
	meta.FinishedSources = p.finished
	// Record the module each WebAssembly operator runs after this
	// checkpoint's barrier, so a restore runs the same versions.
	c.jm.mu.Lock()
	mods := map[string]string{}
	for _, v := range j.graph.Vertices {
		for _, n := range v.Nodes {
			if m := j.modules[n.ID]; m != "" {
				mods[n.Name] = m
			}
		}
	}
	if p.flags&task.FlagSwap != 0 {
		for name, m := range j.pendingModules {
			mods[name] = m
		}
	}
	c.jm.mu.Unlock()
	for i := range meta.Operators {
		meta.Operators[i].Module = mods[meta.Operators[i].Name]
	}
	path := p.dir.Dir
	var err error
	if p.target != "" {
		meta.Savepoint = true
		path, err = c.moveToSavepoint(p, meta)
	} else {
		err = p.dir.Complete(meta)
	}
	if err != nil {
		c.mu.Lock()
		if c.pending == p {
			c.mu.Unlock()
			c.abort(fmt.Errorf("completing checkpoint %d: %w", p.id, err))
			return
		}
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	if c.pending != p {
		c.mu.Unlock()
		return
	}
	c.pending = nil
	c.lastEnd = time.Now()
	if p.target == "" {
		c.latest = &checkpoint.Checkpoint{Dir: path, Meta: meta}
	}
	st := &c.history[p.statIndex]
	st.Status, st.Duration, st.Size, st.Tasks, st.Path = "COMPLETED", time.Since(p.start), p.size, p.acks, path
	st.CheckpointedSize, st.SyncDuration = p.uploaded, p.sync
	dur := st.Duration
	c.mu.Unlock()
	failpoint.Hit(failpoint.AfterCheckpointComplete, p.id)
	c.jm.log.Info("checkpoint completed", "job", j.id, "checkpoint", p.id, "savepoint", p.target != "", "bytes", p.size, "duration", dur.Round(time.Millisecond))
	c.jm.emit(Event{Type: EventCheckpointCompleted, Job: j.id, Checkpoint: p.id, Message: path})
	c.notify(p.id, true)
	if p.target == "" {
		c.jm.swapCheckpointCompleted(j, p.id)
	}
	p.done <- nil
}

// moveToSavepoint moves the files of a savepoint from the checkpoint
// directory into its own directory and completes it there.
func (c *coordinator) moveToSavepoint(p *pendingCheckpoint, meta checkpoint.Metadata) (string, error) {
	sp, err := checkpoint.BeginAt(p.target, p.id)
	if err != nil {
		return "", err
	}
	for _, op := range meta.Operators {
		for _, s := range op.Subtasks {
			from, to := filepath.Join(p.dir.Dir, s.File), filepath.Join(p.target, s.File)
			if err := os.Rename(from, to); err != nil {
				data, rerr := os.ReadFile(from)
				if rerr != nil {
					return "", fmt.Errorf("savepoint: %w", err)
				}
				if werr := os.WriteFile(to, data, 0o644); werr != nil {
					return "", fmt.Errorf("savepoint: %w", werr)
				}
			}
		}
	}
	if err := sp.Complete(meta); err != nil {
		return "", err
	}
	p.dir.Abort()
	return p.target, nil
}

func (c *coordinator) notify(id int64, complete bool) {
	c.jm.mu.Lock()
	targets := map[ExecutionID]TaskManagerGateway{}
	for eid, s := range c.j.tasks {
		if s == task.Running {
			targets[eid] = c.j.placed[eid]
		}
	}
	c.jm.mu.Unlock()
	for eid, tm := range targets {
		_ = tm.NotifyCheckpoint(context.Background(), eid, id, complete)
	}
}

// stats returns the checkpoint history, oldest first.
func (c *coordinator) stats() []CheckpointStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]CheckpointStats(nil), c.history...)
}

func (c *coordinator) latestCheckpoint() *checkpoint.Checkpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.latest
}
