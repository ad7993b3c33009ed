package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/freshet/freshet/engine/graph"
	"github.com/freshet/freshet/engine/internal/task"
)

// JobState is the lifecycle state of a job.
type JobState string

const (
	JobCreated   JobState = "CREATED"
	JobRunning   JobState = "RUNNING"
	JobFinished  JobState = "FINISHED"
	JobFailing   JobState = "FAILING"
	JobFailed    JobState = "FAILED"
	JobCanceling JobState = "CANCELLING"
	JobCanceled  JobState = "CANCELED"
)

// Terminal reports whether s is final.
func (s JobState) Terminal() bool {
	return s == JobFinished || s == JobFailed || s == JobCanceled
}

// ErrUnknownJob is returned for a job ID the JobManager does not know.
var ErrUnknownJob = errors.New("unknown job")

// JobManager schedules jobs on TaskManagers and follows their tasks.
type JobManager struct {
	log *slog.Logger

	mu   sync.Mutex
	tms  []TaskManagerGateway
	jobs map[string]*job

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type job struct {
	id      string
	graph   *graph.JobGraph
	state   JobState
	err     error
	start   time.Time
	end     time.Time
	done    chan struct{}
	tasks   map[ExecutionID]task.State
	placed  map[ExecutionID]TaskManagerGateway
	pending int // tasks not yet terminal
	monitor *monitor
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

func (jm *JobManager) totalSlots() int {
	n := 0
	for _, tm := range jm.tms {
		n += tm.Slots()
	}
	return n
}

func newJobID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Submit schedules jg and returns its job ID. Subtask i of every vertex goes
// to slot i (slot sharing, as in Flink), so a job needs as many slots as its
// highest parallelism.
func (jm *JobManager) Submit(ctx context.Context, jg *graph.JobGraph) (string, error) {
	need := 0
	for _, v := range jg.Vertices {
		need = max(need, v.Parallelism)
	}
	jm.mu.Lock()
	have := jm.totalSlots()
	if need > have {
		jm.mu.Unlock()
		return "", fmt.Errorf("job %q needs %d slots but the cluster has %d", jg.JobName, need, have)
	}
	var slots []TaskManagerGateway
	for _, tm := range jm.tms {
		for i := 0; i < tm.Slots(); i++ {
			slots = append(slots, tm)
		}
	}
	j := &job{
		id:     newJobID(),
		graph:  jg,
		state:  JobRunning,
		start:  time.Now(),
		done:   make(chan struct{}),
		tasks:  map[ExecutionID]task.State{},
		placed: map[ExecutionID]TaskManagerGateway{},
	}
	var deploys []task.Deployment
	for _, v := range jg.Vertices {
		for i := 0; i < v.Parallelism; i++ {
			id := ExecutionID{Job: j.id, Vertex: v.ID, Subtask: i}
			j.tasks[id] = task.Created
			j.placed[id] = slots[i]
			deploys = append(deploys, task.Deployment{JobID: j.id, Graph: jg, Vertex: v, Subtask: i})
		}
	}
	j.pending = len(deploys)
	jm.jobs[j.id] = j
	j.monitor = newMonitor(jm, j)
	jm.mu.Unlock()

	jm.log.Info("job submitted", "job", j.id, "name", jg.JobName, "tasks", len(deploys))
	// Deploy downstream vertices first so that consumers are listening
	// before producers start; channels buffer either way.
	for i := len(deploys) - 1; i >= 0; i-- {
		d := deploys[i]
		id := ExecutionID{Job: j.id, Vertex: d.Vertex.ID, Subtask: d.Subtask}
		if err := j.placed[id].SubmitTask(ctx, d); err != nil {
			jm.failJob(j, fmt.Errorf("deploying %s: %w", d.Name(), err))
			// The tasks never deployed end here, so that the job can end.
			for _, nd := range deploys[:i+1] {
				_ = jm.UpdateTaskState(ctx, TaskStateUpdate{Execution: ExecutionID{Job: j.id, Vertex: nd.Vertex.ID, Subtask: nd.Subtask}, State: task.Canceled})
			}
			return j.id, nil
		}
	}
	jm.wg.Add(1)
	go func() {
		defer jm.wg.Done()
		j.monitor.run(jm.ctx, j.done)
	}()
	return j.id, nil
}

// UpdateTaskState records a task's state change.
func (jm *JobManager) UpdateTaskState(ctx context.Context, u TaskStateUpdate) error {
	jm.mu.Lock()
	j, ok := jm.jobs[u.Execution.Job]
	if !ok {
		jm.mu.Unlock()
		return fmt.Errorf("%w %s", ErrUnknownJob, u.Execution.Job)
	}
	prev := j.tasks[u.Execution]
	if prev.Terminal() {
		jm.mu.Unlock()
		return nil
	}
	j.tasks[u.Execution] = u.State
	if u.State.Terminal() {
		j.pending--
	}
	failed := u.State == task.Failed && !j.state.Terminal() && j.state != JobFailing
	allDone := j.pending == 0
	jm.mu.Unlock()

	if failed {
		jm.failJob(j, u.Err)
	}
	if allDone {
		// The update may come from the last task's own goroutine, and
		// completing waits for every task to stop: complete elsewhere.
		jm.wg.Add(1)
		go func() {
			defer jm.wg.Done()
			jm.completeJob(j)
		}()
	}
	return nil
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
	placed := make(map[ExecutionID]TaskManagerGateway, len(j.placed))
	for id, tm := range j.placed {
		placed[id] = tm
	}
	jm.mu.Unlock()
	jm.log.Error("job failing", "job", j.id, "err", err)
	for id, tm := range placed {
		_ = tm.CancelTask(context.Background(), id)
	}
}

func (jm *JobManager) completeJob(j *job) {
	jm.mu.Lock()
	if j.state.Terminal() {
		jm.mu.Unlock()
		return
	}
	switch j.state {
	case JobFailing:
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
	}
	j.end = time.Now()
	tms := map[TaskManagerGateway]bool{}
	for _, tm := range j.placed {
		tms[tm] = true
	}
	jm.mu.Unlock()
	// Take the final statistics before the TaskManagers forget the tasks.
	j.monitor.sample(context.Background())
	for tm := range tms {
		_ = tm.ReleaseJob(context.Background(), j.id)
	}
	jm.log.Info("job ended", "job", j.id, "state", j.state, "duration", j.end.Sub(j.start).Round(time.Millisecond))
	close(j.done)
}

// Cancel cancels a running job.
func (jm *JobManager) Cancel(ctx context.Context, id string) error {
	jm.mu.Lock()
	j, ok := jm.jobs[id]
	if !ok {
		jm.mu.Unlock()
		return fmt.Errorf("%w %s", ErrUnknownJob, id)
	}
	if j.state.Terminal() || j.state == JobCanceling || j.state == JobFailing {
		jm.mu.Unlock()
		return nil
	}
	j.state = JobCanceling
	placed := make(map[ExecutionID]TaskManagerGateway, len(j.placed))
	for eid, tm := range j.placed {
		placed[eid] = tm
	}
	jm.mu.Unlock()
	for eid, tm := range placed {
		_ = tm.CancelTask(ctx, eid)
	}
	return nil
}

// Stop ends a running job gracefully: its sources stop reading, and every
// operator and sink finishes and flushes as at the end of bounded input. The
// job then ends FINISHED. Use Cancel to stop at once without flushing.
func (jm *JobManager) Stop(ctx context.Context, id string) error {
	jm.mu.Lock()
	j, ok := jm.jobs[id]
	if !ok {
		jm.mu.Unlock()
		return fmt.Errorf("%w %s", ErrUnknownJob, id)
	}
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
	jm.mu.Lock()
	j, ok := jm.jobs[id]
	jm.mu.Unlock()
	if !ok {
		return JobResult{}, fmt.Errorf("%w %s", ErrUnknownJob, id)
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

// Jobs lists the IDs of every job, newest last.
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
