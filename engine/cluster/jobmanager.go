package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/checkpoint"
	"github.com/freshet/freshet/engine/graph"
	"github.com/freshet/freshet/engine/internal/task"
)

// JobState is the lifecycle state of a job.
type JobState string

const (
	JobCreated    JobState = "CREATED"
	JobRunning    JobState = "RUNNING"
	JobRestarting JobState = "RESTARTING"
	JobFinished   JobState = "FINISHED"
	JobFailing    JobState = "FAILING"
	JobFailed     JobState = "FAILED"
	JobCanceling  JobState = "CANCELLING"
	JobCanceled   JobState = "CANCELED"
)

// Terminal reports whether s is final.
func (s JobState) Terminal() bool {
	return s == JobFinished || s == JobFailed || s == JobCanceled
}

// ErrUnknownJob is returned for a job ID the JobManager does not know.
var ErrUnknownJob = errors.New("unknown job")

// SubmitOptions configure how a job runs.
type SubmitOptions struct {
	// Checkpoint configures checkpoints; nil keeps periodic checkpoints off
	// (savepoints still work, into a temporary checkpoint directory).
	Checkpoint *CheckpointConfig
	// Restart decides restarts after failures. Nil: exponential delay when
	// periodic checkpoints are on, no restart otherwise.
	Restart RestartStrategy
	// RestoreFrom is a checkpoint or savepoint to start from: a chk-N or
	// savepoint directory, or a checkpoint directory whose newest intact
	// checkpoint is used.
	RestoreFrom string
	// AllowNonRestoredState accepts a checkpoint holding state of operators
	// the job no longer has.
	AllowNonRestoredState bool
}

// JobManager schedules jobs on TaskManagers and follows their tasks.
type JobManager struct {
	log *slog.Logger

	mu   sync.Mutex
	tms  []TaskManagerGateway
	jobs map[string]*job

	events events

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type job struct {
	id      string
	graph   *graph.JobGraph
	opts    SubmitOptions
	state   JobState
	err     error
	start   time.Time
	end     time.Time
	done    chan struct{}
	attempt int
	tasks   map[ExecutionID]task.State // current attempt
	placed  map[ExecutionID]TaskManagerGateway
	slots   []TaskManagerGateway
	pending int // tasks of the current attempt not yet terminal
	restore *checkpoint.Checkpoint
	restart RestartStrategy
	// restartDelay is the wait before the next attempt while RESTARTING.
	restartDelay time.Duration
	cpRoot       string
	tmpRoot      bool
	monitor      *monitor
	coord        *coordinator

	// Hot-swap: the module each node runs, constructors replacing a node's
	// own (by node ID), the modules the next checkpoint records, and the
	// swap requests.
	modules        map[int]string
	overrides      map[int]func() (api.Operator, error)
	pendingModules map[string]string
	swaps          swaps
}

// NewJobManager returns a JobManager with no TaskManagers.
func NewJobManager(logger *slog.Logger) *JobManager {
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &JobManager{log: logger.With("component", "jobmanager"), jobs: map[string]*job{}, ctx: ctx, cancel: cancel}
}

// RegisterTaskManager adds a TaskManager's slots to the cluster.
func (jm *JobManager) RegisterTaskManager(ctx context.Context, tm TaskManagerGateway) error {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	for _, t := range jm.tms {
		if t.ID() == tm.ID() {
			return fmt.Errorf("taskmanager %s is already registered", tm.ID())
		}
	}
	jm.tms = append(jm.tms, tm)
	return nil
}

func newJobID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Submit schedules jg with default options.
func (jm *JobManager) Submit(ctx context.Context, jg *graph.JobGraph) (string, error) {
	return jm.SubmitWith(ctx, jg, SubmitOptions{})
}

// SubmitWith schedules jg and returns its job ID. Subtask i of every vertex
// goes to slot i (slot sharing, as in Flink), so a job needs as many slots as
// its highest parallelism.
func (jm *JobManager) SubmitWith(ctx context.Context, jg *graph.JobGraph, opts SubmitOptions) (string, error) {
	need := 0
	for _, v := range jg.Vertices {
		need = max(need, v.Parallelism)
	}
	if err := uniqueNames(jg); err != nil {
		return "", err
	}
	j := &job{id: newJobID(), graph: jg, opts: opts, state: JobRunning, start: time.Now(), done: make(chan struct{}),
		modules: map[int]string{}, overrides: map[int]func() (api.Operator, error){}}
	for _, v := range jg.Vertices {
		for _, n := range v.Nodes {
			if n.Module != "" {
				j.modules[n.ID] = n.Module
			}
		}
	}
	if opts.RestoreFrom != "" {
		c, err := checkpoint.Find(opts.RestoreFrom, jm.log)
		if err != nil {
			return "", fmt.Errorf("restoring job %q: %w", jg.JobName, err)
		}
		if err := checkRestore(jg, c, opts.AllowNonRestoredState); err != nil {
			return "", fmt.Errorf("restoring job %q from %s: %w", jg.JobName, c.Dir, err)
		}
		j.restore = c
		jm.log.Info("restoring job", "job", jg.JobName, "from", c.Dir, "checkpoint", c.Meta.ID)
		// Run the module versions the checkpoint recorded (a hot-swap may
		// have replaced the ones the job names).
		for _, v := range jg.Vertices {
			for _, n := range v.Nodes {
				op, ok := c.Meta.Operator(n.Name)
				if !ok || op.Module == "" || op.Module == n.Module || n.Rebuild == nil {
					continue
				}
				ctor, err := n.Rebuild(op.Module)
				if err != nil {
					return "", fmt.Errorf("restoring job %q: operator %q ran module %s at checkpoint %d: %w", jg.JobName, n.Name, op.Module, c.Meta.ID, err)
				}
				j.overrides[n.ID] = ctor
				j.modules[n.ID] = op.Module
				jm.log.Info("running the module the checkpoint recorded", "operator", n.Name, "module", op.Module)
			}
		}
	}
	cfg := CheckpointConfig{}
	if opts.Checkpoint != nil {
		cfg = *opts.Checkpoint
	}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "freshet-checkpoints-")
		if err != nil {
			return "", err
		}
		cfg.Dir, j.tmpRoot = dir, true
	} else if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint directory: %w", err)
	}
	j.cpRoot = cfg.Dir
	j.restart = opts.Restart
	if j.restart == nil {
		if cfg.Interval > 0 {
			j.restart = DefaultExponentialDelay()
		} else {
			j.restart = NoRestart{}
		}
	}

	jm.mu.Lock()
	var slots []TaskManagerGateway
	for _, tm := range jm.tms {
		for i := 0; i < tm.Slots(); i++ {
			slots = append(slots, tm)
		}
	}
	if need > len(slots) {
		jm.mu.Unlock()
		return "", fmt.Errorf("job %q needs %d slots but the cluster has %d", jg.JobName, need, len(slots))
	}
	j.slots = slots
	jm.jobs[j.id] = j
	j.monitor = newMonitor(jm, j)
	j.coord = newCoordinator(jm, j, cfg)
	jm.mu.Unlock()

	jm.log.Info("job submitted", "job", j.id, "name", jg.JobName)
	jm.emit(Event{Type: EventJobStateChanged, Job: j.id, State: JobRunning})
	jm.deploy(ctx, j)
	jm.wg.Add(2)
	go func() {
		defer jm.wg.Done()
		j.monitor.run(jm.ctx, j.done)
	}()
	go func() {
		defer jm.wg.Done()
		j.coord.run(jm.ctx, j.done)
	}()
	return j.id, nil
}

// uniqueNames checks operator names are unique: they identify state in
// checkpoints.
func uniqueNames(jg *graph.JobGraph) error {
	seen := map[string]bool{}
	for _, v := range jg.Vertices {
		for _, n := range v.Nodes {
			if seen[n.Name] {
				return fmt.Errorf("job %q has two operators named %q: names identify state in checkpoints and must be unique", jg.JobName, n.Name)
			}
			seen[n.Name] = true
		}
	}
	return nil
}

// checkRestore refuses a checkpoint that does not fit the job.
func checkRestore(jg *graph.JobGraph, c *checkpoint.Checkpoint, allowNonRestored bool) error {
	if c.Meta.MaxParallelism != 0 && c.Meta.MaxParallelism != jg.MaxParallelism {
		return fmt.Errorf("the checkpoint has max parallelism %d and the job %d: the number of key groups cannot change", c.Meta.MaxParallelism, jg.MaxParallelism)
	}
	if allowNonRestored {
		return nil
	}
	names := map[string]bool{}
	for _, v := range jg.Vertices {
		for _, n := range v.Nodes {
			names[n.Name] = true
		}
	}
	for _, op := range c.Meta.Operators {
		if !names[op.Name] {
			return fmt.Errorf("the checkpoint holds state of operator %q, which the job does not have (rename it back, or allow non-restored state)", op.Name)
		}
	}
	return checkFinishedSources(jg, c)
}

// checkFinishedSources refuses to restore, at another parallelism, a source
// some of whose subtasks had ended before the checkpoint: a finished
// subtask takes no more snapshots, so the checkpoint lacks its position,
// and the rescaled subtasks would read its input again. At the same
// parallelism the finished subtasks stay finished; when all had ended, all
// stay finished at any parallelism.
func checkFinishedSources(jg *graph.JobGraph, c *checkpoint.Checkpoint) error {
	for _, v := range jg.Vertices {
		if len(v.Inputs) > 0 {
			continue
		}
		name := v.Head().Name
		finished, was := 0, 0
		for _, f := range c.Meta.FinishedSources {
			if f.Operator == name {
				finished, was = finished+1, f.Parallelism
			}
		}
		if finished > 0 && finished < was && was != v.Parallelism {
			return fmt.Errorf("source %q had finished %d of its %d subtasks at this checkpoint, and a finished subtask's position is not in it: at parallelism %d its input would be read again; restore it at parallelism %d, or from a savepoint taken before any subtask finished",
				name, finished, was, v.Parallelism, was)
		}
	}
	return nil
}

// deploy starts every subtask of the job's current attempt.
func (jm *JobManager) deploy(ctx context.Context, j *job) {
	jm.mu.Lock()
	j.tasks = map[ExecutionID]task.State{}
	j.placed = map[ExecutionID]TaskManagerGateway{}
	var deploys []task.Deployment
	overrides := make(map[int]func() (api.Operator, error), len(j.overrides))
	for k, v := range j.overrides {
		overrides[k] = v
	}
	settings := &task.CheckpointSettings{Root: j.cpRoot, AtLeastOnce: j.coord.cfg.AtLeastOnce, Periodic: j.coord.cfg.Interval > 0}
	for _, v := range j.graph.Vertices {
		for i := 0; i < v.Parallelism; i++ {
			id := ExecutionID{Job: j.id, Vertex: v.ID, Subtask: i, Attempt: j.attempt}
			j.tasks[id] = task.Created
			j.placed[id] = j.slots[i]
			d := task.Deployment{JobID: j.id, Graph: j.graph, Vertex: v, Subtask: i, Attempt: j.attempt, Checkpoint: settings, Restore: j.restore, Overrides: overrides}
			if j.restore != nil && len(v.Inputs) == 0 && j.restore.Meta.SourceFinished(v.Head().Name, i, v.Parallelism) {
				d.SourceFinished = true
			}
			deploys = append(deploys, d)
		}
	}
	j.pending = len(deploys)
	jm.mu.Unlock()
	// Downstream vertices first, so that consumers are listening before
	// producers start (channels buffer either way).
	for i := len(deploys) - 1; i >= 0; i-- {
		d := deploys[i]
		id := ExecutionID{Job: j.id, Vertex: d.Vertex.ID, Subtask: d.Subtask, Attempt: d.Attempt}
		if err := j.placed[id].SubmitTask(ctx, d); err != nil {
			jm.failJob(j, fmt.Errorf("deploying %s: %w", d.Name(), err))
			for _, nd := range deploys[:i+1] {
				_ = jm.UpdateTaskState(ctx, TaskStateUpdate{Execution: ExecutionID{Job: j.id, Vertex: nd.Vertex.ID, Subtask: nd.Subtask, Attempt: nd.Attempt}, State: task.Canceled})
			}
			return
		}
	}
}

// UpdateTaskState records a task's state change.
func (jm *JobManager) UpdateTaskState(ctx context.Context, u TaskStateUpdate) error {
	jm.mu.Lock()
	j, ok := jm.jobs[u.Execution.Job]
	if !ok {
		jm.mu.Unlock()
		return fmt.Errorf("%w %s", ErrUnknownJob, u.Execution.Job)
	}
	prev, current := j.tasks[u.Execution]
	if !current || prev.Terminal() {
		jm.mu.Unlock()
		return nil
	}
	j.tasks[u.Execution] = u.State
	if u.State.Terminal() {
		j.pending--
	}
	failed := u.State == task.Failed && j.state == JobRunning
	allDone := j.pending == 0
	jm.mu.Unlock()

	if u.State == task.Finished {
		j.coord.taskFinished(u.Execution)
	}
	if failed {
		jm.emit(Event{Type: EventTaskFailed, Job: j.id, Task: u.Execution.String(), Message: errString(u.Err)})
		jm.handleFailure(j, u.Err)
	}
	if allDone {
		// The update may come from the last task's own goroutine, and what
		// follows waits for every task to stop: do it elsewhere.
		jm.wg.Add(1)
		go func() {
			defer jm.wg.Done()
			jm.attemptEnded(j)
		}()
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// handleFailure restarts the job if its strategy allows, else fails it.
func (jm *JobManager) handleFailure(j *job, err error) {
	jm.mu.Lock()
	if j.state != JobRunning {
		jm.mu.Unlock()
		return
	}
	jm.mu.Unlock()
	rollback := jm.swapRollback(j, err)
	jm.mu.Lock()
	if j.state != JobRunning {
		jm.mu.Unlock()
		return
	}
	var delay time.Duration
	ok := true
	if rollback {
		// Back to the checkpoint that carried the swap, with the old version.
		if cp := j.coord.latestCheckpoint(); cp != nil {
			j.restore = cp
		}
	} else {
		delay, ok = j.restart.Next(time.Now())
	}
	if !ok {
		jm.mu.Unlock()
		jm.failJob(j, err)
		return
	}
	j.state = JobRestarting
	j.err = err
	placed := copyPlaced(j.placed)
	jm.mu.Unlock()
	jm.log.Warn("job restarting", "job", j.id, "in", delay.Round(time.Millisecond), "strategy", j.restart, "cause", err)
	jm.emit(Event{Type: EventJobRestarting, Job: j.id, State: JobRestarting, Message: fmt.Sprintf("restarting in %s after: %v", delay.Round(time.Millisecond), err)})
	j.coord.abort(errors.New("the job is restarting"))
	jm.mu.Lock()
	j.restartDelay = delay
	jm.mu.Unlock()
	for id, tm := range placed {
		_ = tm.CancelTask(context.Background(), id)
	}
}

func copyPlaced(m map[ExecutionID]TaskManagerGateway) map[ExecutionID]TaskManagerGateway {
	out := make(map[ExecutionID]TaskManagerGateway, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// failJob cancels every task of j; the job ends FAILED with cause err.
func (jm *JobManager) failJob(j *job, err error) {
	jm.mu.Lock()
	if j.state.Terminal() || j.state == JobFailing {
		jm.mu.Unlock()
		return
	}
	j.state = JobFailing
	j.err = err
	placed := copyPlaced(j.placed)
	jm.mu.Unlock()
	jm.log.Error("job failing", "job", j.id, "err", err)
	for id, tm := range placed {
		_ = tm.CancelTask(context.Background(), id)
	}
}

// attemptEnded runs when every task of the current attempt has stopped:
// the job restarts or ends.
func (jm *JobManager) attemptEnded(j *job) {
	jm.mu.Lock()
	restarting := j.state == JobRestarting
	delay := j.restartDelay
	jm.mu.Unlock()
	if !restarting {
		jm.completeJob(j)
		return
	}
	// Make the TaskManagers forget the old attempt (tasks and channels).
	for tm := range jm.jobTMs(j) {
		_ = tm.ReleaseJob(context.Background(), j.id)
	}
	select {
	case <-time.After(delay):
	case <-jm.ctx.Done():
		return
	}
	jm.mu.Lock()
	if j.state != JobRestarting { // cancelled while waiting
		jm.mu.Unlock()
		jm.completeJob(j)
		return
	}
	j.attempt++
	if c := j.coord.latestCheckpoint(); c != nil {
		j.restore = c
	}
	j.state = JobRunning
	from := ""
	if j.restore != nil {
		from = j.restore.Dir
	}
	jm.mu.Unlock()
	jm.log.Info("job restarted", "job", j.id, "attempt", j.attempt, "from", from)
	jm.emit(Event{Type: EventJobStateChanged, Job: j.id, State: JobRunning, Message: fmt.Sprintf("attempt %d restored from %s", j.attempt, from)})
	jm.deploy(context.Background(), j)
}

func (jm *JobManager) jobTMs(j *job) map[TaskManagerGateway]bool {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	tms := map[TaskManagerGateway]bool{}
	for _, tm := range j.slots {
		tms[tm] = true
	}
	return tms
}

func (jm *JobManager) completeJob(j *job) {
	jm.mu.Lock()
	if j.state.Terminal() {
		jm.mu.Unlock()
		return
	}
	switch j.state {
	case JobFailing, JobRestarting:
		j.state = JobFailed
	case JobCanceling:
		j.state = JobCanceled
	default:
		j.state = JobFinished
		for _, s := range j.tasks {
			if s != task.Finished {
				j.state = JobCanceled
			}
		}
		if j.state == JobFinished {
			j.err = nil
		}
	}
	j.end = time.Now()
	state := j.state
	jm.mu.Unlock()
	// Take the final statistics before the TaskManagers forget the tasks.
	j.monitor.sample(context.Background())
	for tm := range jm.jobTMs(j) {
		_ = tm.ReleaseJob(context.Background(), j.id)
	}
	if j.tmpRoot {
		_ = os.RemoveAll(j.cpRoot)
	}
	jm.log.Info("job ended", "job", j.id, "state", state, "duration", j.end.Sub(j.start).Round(time.Millisecond))
	jm.emit(Event{Type: EventJobStateChanged, Job: j.id, State: state, Message: errString(j.err)})
	close(j.done)
}

func (jm *JobManager) job(id string) (*job, error) {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	j, ok := jm.jobs[id]
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownJob, id)
	}
	return j, nil
}

// Cancel cancels a running job at once, without flushing sinks.
func (jm *JobManager) Cancel(ctx context.Context, id string) error {
	j, err := jm.job(id)
	if err != nil {
		return err
	}
	jm.mu.Lock()
	if j.state.Terminal() || j.state == JobCanceling || j.state == JobFailing {
		jm.mu.Unlock()
		return nil
	}
	restarting := j.state == JobRestarting
	j.state = JobCanceling
	placed := copyPlaced(j.placed)
	jm.mu.Unlock()
	jm.emit(Event{Type: EventJobStateChanged, Job: id, State: JobCanceling})
	if restarting {
		return nil // attemptEnded sees the state and ends the job
	}
	for eid, tm := range placed {
		_ = tm.CancelTask(ctx, eid)
	}
	return nil
}

// Stop ends a running job gracefully: its sources stop reading, and every
// operator and sink finishes and flushes as at the end of bounded input. The
// job then ends FINISHED. Use Cancel to stop at once without flushing.
func (jm *JobManager) Stop(ctx context.Context, id string) error {
	j, err := jm.job(id)
	if err != nil {
		return err
	}
	jm.mu.Lock()
	if j.state != JobRunning {
		jm.mu.Unlock()
		return nil
	}
	sources := map[ExecutionID]TaskManagerGateway{}
	for eid, tm := range j.placed {
		if len(j.graph.Vertices[eid.Vertex].Inputs) == 0 {
			sources[eid] = tm
		}
	}
	jm.mu.Unlock()
	for eid, tm := range sources {
		if err := tm.StopTask(ctx, eid); err != nil {
			return fmt.Errorf("stopping %s: %w", eid, err)
		}
	}
	return nil
}

// TriggerSavepoint takes a savepoint of job id into dir and waits for it.
// With stop, the sources finish right after it, and the job ends FINISHED.
func (jm *JobManager) TriggerSavepoint(ctx context.Context, id, dir string, stop bool) (string, error) {
	j, err := jm.job(id)
	if err != nil {
		return "", err
	}
	if dir == "" {
		return "", errors.New("a savepoint needs a target directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	req := savepointRequest{dir: abs, stop: stop, res: make(chan savepointResult, 1)}
	select {
	case j.coord.requests <- req:
	case <-j.done:
		return "", fmt.Errorf("job %s has ended", id)
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case r := <-req.res:
		return r.path, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Checkpoints returns the checkpoint history of job id.
func (jm *JobManager) Checkpoints(id string) ([]CheckpointStats, error) {
	j, err := jm.job(id)
	if err != nil {
		return nil, err
	}
	return j.coord.stats(), nil
}

// AcknowledgeCheckpoint records a task's snapshot (or, with err, its
// refusal) of checkpoint cp.
func (jm *JobManager) AcknowledgeCheckpoint(ctx context.Context, eid ExecutionID, cp int64, snaps []checkpoint.OperatorSnapshot, err error) error {
	j, jerr := jm.job(eid.Job)
	if jerr != nil {
		return jerr
	}
	if err != nil {
		j.coord.decline(eid, cp, err)
		return nil
	}
	j.coord.acknowledge(eid, cp, snaps)
	return nil
}

// JobResult is how a job ended.
type JobResult struct {
	ID       string
	Name     string
	State    JobState
	Err      error
	Duration time.Duration
	Status   JobStatus
}

// Wait blocks until job id ends (or ctx ends) and returns its result.
func (jm *JobManager) Wait(ctx context.Context, id string) (JobResult, error) {
	j, err := jm.job(id)
	if err != nil {
		return JobResult{}, err
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		return JobResult{}, ctx.Err()
	}
	st, _ := jm.Status(id)
	jm.mu.Lock()
	defer jm.mu.Unlock()
	return JobResult{ID: id, Name: j.graph.JobName, State: j.state, Err: j.err, Duration: j.end.Sub(j.start), Status: st}, nil
}

// Jobs lists the IDs of every job, oldest first.
func (jm *JobManager) Jobs() []string {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	ids := make([]string, 0, len(jm.jobs))
	for id := range jm.jobs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return jm.jobs[ids[a]].start.Before(jm.jobs[ids[b]].start) })
	return ids
}

// Close cancels every job and stops the JobManager's goroutines.
func (jm *JobManager) Close() error {
	for _, id := range jm.Jobs() {
		_ = jm.Cancel(context.Background(), id)
	}
	jm.mu.Lock()
	var waits []chan struct{}
	for _, j := range jm.jobs {
		waits = append(waits, j.done)
	}
	jm.mu.Unlock()
	for _, w := range waits {
		select {
		case <-w:
		case <-time.After(10 * time.Second):
		}
	}
	jm.cancel()
	jm.wg.Wait()
	return nil
}
