package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/checkpoint"
	"github.com/freshet/freshet/engine/internal/network"
	"github.com/freshet/freshet/engine/internal/task"
	"github.com/freshet/freshet/engine/memory"
)

// ExecutionID names one attempt of one subtask.
type ExecutionID struct {
	Job     string
	Vertex  int
	Subtask int
	Attempt int
}

func (e ExecutionID) String() string {
	return fmt.Sprintf("%s/v%d/%d#%d", e.Job, e.Vertex, e.Subtask, e.Attempt)
}

// TaskStateUpdate reports a task's new state to the JobManager.
type TaskStateUpdate struct {
	Execution ExecutionID
	State     task.State
	Err       error
}

// TaskManagerGateway is how a JobManager drives a TaskManager.
type TaskManagerGateway interface {
	ID() string
	Slots() int
	SubmitTask(ctx context.Context, d task.Deployment) error
	CancelTask(ctx context.Context, id ExecutionID) error
	// StopTask ends a source task gracefully (see task.Task.Stop).
	StopTask(ctx context.Context, id ExecutionID) error
	// TriggerCheckpoint starts checkpoint cp at a source task.
	TriggerCheckpoint(ctx context.Context, id ExecutionID, cp int64, flags uint32) error
	// NotifyCheckpoint tells a task checkpoint cp completed or was aborted.
	NotifyCheckpoint(ctx context.Context, id ExecutionID, cp int64, complete bool) error
	// PrepareSwap starts a new version of operator node in a task, to take
	// over at the next swap barrier; CancelSwap discards it.
	PrepareSwap(ctx context.Context, id ExecutionID, node int, newOp func() (api.Operator, error)) error
	CancelSwap(ctx context.Context, id ExecutionID, node int) error
	TaskStats(ctx context.Context, job string) ([]task.Stats, error)
	ReleaseJob(ctx context.Context, job string) error
}

// JobManagerGateway is how a TaskManager reports to its JobManager.
type JobManagerGateway interface {
	UpdateTaskState(ctx context.Context, u TaskStateUpdate) error
	// AcknowledgeCheckpoint reports a task's snapshot of checkpoint cp, or
	// with err its refusal.
	AcknowledgeCheckpoint(ctx context.Context, id ExecutionID, cp int64, snaps []checkpoint.OperatorSnapshot, err error) error
}

// TaskManagerConfig configures a TaskManager.
type TaskManagerConfig struct {
	ID    string
	Slots int
	// Memory is the network buffer budget.
	Memory memory.Config
	// Credits is the number of buffers a consumer queues per channel.
	Credits int
	// Dir is the working directory for local state.
	Dir string
	// State makes keyed state backends.
	State         task.StateFactory
	BufferTimeout time.Duration
	Logger        *slog.Logger
}

// TaskManager runs tasks in slots.
type TaskManager struct {
	cfg TaskManagerConfig
	jm  JobManagerGateway
	mem *memory.Manager
	net *network.Network
	log *slog.Logger

	tmpDir bool

	mu    sync.Mutex
	tasks map[ExecutionID]*task.Task
	wg    sync.WaitGroup
}

// NewTaskManager starts a TaskManager that reports to jm.
func NewTaskManager(cfg TaskManagerConfig, jm JobManagerGateway) (*TaskManager, error) {
	if cfg.Slots < 1 {
		cfg.Slots = 1
	}
	if cfg.Credits < 1 {
		cfg.Credits = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ID == "" {
		cfg.ID = "taskmanager-0"
	}
	mem, err := memory.NewManager(cfg.Memory)
	if err != nil {
		return nil, fmt.Errorf("taskmanager %s: %w", cfg.ID, err)
	}
	tmpDir := false
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "freshet-"+cfg.ID+"-"); err != nil {
			return nil, fmt.Errorf("taskmanager %s: %w", cfg.ID, err)
		}
		tmpDir = true
	}
	return &TaskManager{
		tmpDir: tmpDir,
		cfg:    cfg,
		jm:     jm,
		mem:    mem,
		net:    network.New(cfg.Credits),
		log:    cfg.Logger.With("taskmanager", cfg.ID),
		tasks:  map[ExecutionID]*task.Task{},
	}, nil
}

func (tm *TaskManager) ID() string { return tm.cfg.ID }

func (tm *TaskManager) Slots() int { return tm.cfg.Slots }

// Memory returns the TaskManager's memory manager (for statistics).
func (tm *TaskManager) Memory() *memory.Manager { return tm.mem }

// SubmitTask starts one subtask.
func (tm *TaskManager) SubmitTask(ctx context.Context, d task.Deployment) error {
	id := ExecutionID{Job: d.JobID, Vertex: d.Vertex.ID, Subtask: d.Subtask, Attempt: d.Attempt}
	dir := ""
	if tm.cfg.Dir != "" {
		dir = filepath.Join(tm.cfg.Dir, d.JobID, fmt.Sprintf("v%d-%d-%d", d.Vertex.ID, d.Subtask, d.Attempt))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating the working directory of %s: %w", d.Name(), err)
		}
	}
	t := task.New(d, task.Env{
		Network:       tm.net,
		Memory:        tm.mem,
		State:         tm.cfg.State,
		Logger:        tm.log,
		Dir:           dir,
		BufferTimeout: tm.cfg.BufferTimeout,
		OnState: func(t *task.Task, s task.State, err error) {
			_ = tm.jm.UpdateTaskState(context.Background(), TaskStateUpdate{Execution: id, State: s, Err: err})
		},
		OnCheckpoint: func(t *task.Task, cp int64, snaps []checkpoint.OperatorSnapshot, err error) {
			_ = tm.jm.AcknowledgeCheckpoint(context.Background(), id, cp, snaps, err)
		},
	})
	tm.mu.Lock()
	if _, dup := tm.tasks[id]; dup {
		tm.mu.Unlock()
		return fmt.Errorf("task %s is already deployed", id)
	}
	tm.tasks[id] = t
	tm.mu.Unlock()
	tm.wg.Add(1)
	go func() {
		defer tm.wg.Done()
		t.Run()
	}()
	return nil
}

// CancelTask cancels a running task.
func (tm *TaskManager) CancelTask(ctx context.Context, id ExecutionID) error {
	tm.mu.Lock()
	t := tm.tasks[id]
	tm.mu.Unlock()
	if t != nil {
		t.Cancel()
	}
	return nil
}

// StopTask ends a source task gracefully.
func (tm *TaskManager) StopTask(ctx context.Context, id ExecutionID) error {
	tm.mu.Lock()
	t := tm.tasks[id]
	tm.mu.Unlock()
	if t != nil {
		t.Stop()
	}
	return nil
}

func (tm *TaskManager) task(id ExecutionID) (*task.Task, error) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	t := tm.tasks[id]
	if t == nil {
		return nil, fmt.Errorf("task %s is not running here", id)
	}
	return t, nil
}

// TriggerCheckpoint starts checkpoint cp at a source task.
func (tm *TaskManager) TriggerCheckpoint(ctx context.Context, id ExecutionID, cp int64, flags uint32) error {
	t, err := tm.task(id)
	if err != nil {
		return err
	}
	if !t.TriggerCheckpoint(cp, flags) {
		return fmt.Errorf("task %s has ended", id)
	}
	return nil
}

// NotifyCheckpoint tells a task checkpoint cp completed or was aborted.
func (tm *TaskManager) NotifyCheckpoint(ctx context.Context, id ExecutionID, cp int64, complete bool) error {
	t, err := tm.task(id)
	if err != nil {
		return err
	}
	t.NotifyCheckpoint(cp, complete)
	return nil
}

// PrepareSwap starts a new version of operator node in a task.
func (tm *TaskManager) PrepareSwap(ctx context.Context, id ExecutionID, node int, newOp func() (api.Operator, error)) error {
	t, err := tm.task(id)
	if err != nil {
		return err
	}
	return t.PrepareSwap(node, newOp)
}

// CancelSwap discards a prepared swap.
func (tm *TaskManager) CancelSwap(ctx context.Context, id ExecutionID, node int) error {
	t, err := tm.task(id)
	if err != nil {
		return err
	}
	t.CancelSwap(node)
	return nil
}

// TaskStats snapshots the counters of every task of job.
func (tm *TaskManager) TaskStats(ctx context.Context, job string) ([]task.Stats, error) {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	var out []task.Stats
	for id, t := range tm.tasks {
		if id.Job == job {
			out = append(out, t.Stats())
		}
	}
	return out, nil
}

// ReleaseJob forgets a finished job's tasks and channels.
func (tm *TaskManager) ReleaseJob(ctx context.Context, job string) error {
	tm.mu.Lock()
	var wait []*task.Task
	for id, t := range tm.tasks {
		if id.Job == job {
			wait = append(wait, t)
			delete(tm.tasks, id)
		}
	}
	tm.mu.Unlock()
	for _, t := range wait {
		t.Cancel()
		<-t.Done()
	}
	tm.net.Release(job)
	if tm.cfg.Dir != "" {
		_ = os.RemoveAll(filepath.Join(tm.cfg.Dir, job))
	}
	return nil
}

// Close cancels every task, waits for them and releases memory.
func (tm *TaskManager) Close() error {
	tm.mu.Lock()
	for _, t := range tm.tasks {
		t.Cancel()
	}
	tm.mu.Unlock()
	tm.wg.Wait()
	err := tm.mem.Close()
	if tm.tmpDir {
		_ = os.RemoveAll(tm.cfg.Dir)
	}
	return err
}
