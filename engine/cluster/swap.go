package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/graph"
	"github.com/freshet/freshet/engine/internal/task"
)

// ErrNotSwappable is returned for a vertex whose operators cannot swap
// their code (they are not WebAssembly operators).
var ErrNotSwappable = errors.New("the operator cannot be hot-swapped")

// ErrUnknownVertex is returned for a vertex a job does not have.
var ErrUnknownVertex = errors.New("unknown vertex")

// Swap states.
const (
	SwapInProgress = "IN_PROGRESS"
	SwapCompleted  = "COMPLETED"
	SwapFailed     = "FAILED"
)

// swap is one hot-swap request.
type swap struct {
	id         string
	node       *graph.Node
	vertex     *graph.JobVertex
	from, to   string
	oldCtor    func() (api.Operator, error)
	newCtor    func() (api.Operator, error)
	checkpoint int64 // the checkpoint that carried it (0: not yet)
	status     string
	failure    string
	probation  bool // completed, until the next checkpoint completes
}

type swaps struct {
	mu      sync.Mutex
	next    int
	byID    map[string]*swap
	running *swap // one swap at a time per job
	queued  *swap // waits for running's probation to end
}

// findSwapNode resolves a vertex reference (vertex ID, vertex name, or the
// name of one of its operators) to the swappable node in it.
func findSwapNode(jg *graph.JobGraph, ref string) (*graph.JobVertex, *graph.Node, error) {
	var v *graph.JobVertex
	var named *graph.Node
	for _, cand := range jg.Vertices {
		if strconv.Itoa(cand.ID) == ref || cand.Name == ref {
			v = cand
		}
		for _, n := range cand.Nodes {
			if n.Name == ref {
				v, named = cand, n
			}
		}
	}
	if v == nil {
		return nil, nil, fmt.Errorf("%w %q", ErrUnknownVertex, ref)
	}
	if named != nil {
		if named.Rebuild == nil {
			return nil, nil, fmt.Errorf("%w: %q is not a WebAssembly operator", ErrNotSwappable, named.Name)
		}
		return v, named, nil
	}
	var found []*graph.Node
	for _, n := range v.Nodes {
		if n.Rebuild != nil {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return nil, nil, fmt.Errorf("%w: vertex %q runs no WebAssembly operator", ErrNotSwappable, v.Name)
	case 1:
		return v, found[0], nil
	}
	return nil, nil, fmt.Errorf("vertex %q runs several WebAssembly operators: name one of them", v.Name)
}

// SwapModule replaces, while job id runs, the WebAssembly module of the
// operator that vertex names, with module. It returns a request ID to poll
// with SwapStatus. The swap happens at a checkpoint boundary: the module is
// compiled and started in every subtask first (a module that fails to start,
// or declares state incompatibly, fails the swap and nothing changes), then
// a checkpoint carries it: every record before the checkpoint's barrier is
// processed by the old version, every record after it by the new one. Keyed
// state and timers carry over. If the new version fails before the next
// checkpoint completes, the job goes back to that checkpoint with the old
// version and the swap is reported failed.
func (jm *JobManager) SwapModule(ctx context.Context, id, vertex, module string) (string, error) {
	j, err := jm.job(id)
	if err != nil {
		return "", err
	}
	v, n, err := findSwapNode(j.graph, vertex)
	if err != nil {
		return "", err
	}
	jm.mu.Lock()
	if j.state != JobRunning {
		st := j.state
		jm.mu.Unlock()
		return "", fmt.Errorf("job %s is %s", id, st)
	}
	jm.mu.Unlock()
	j.swaps.mu.Lock()
	if r := j.swaps.running; r != nil && !r.probation || j.swaps.queued != nil {
		j.swaps.mu.Unlock()
		return "", fmt.Errorf("a swap of %q is still in progress", n.Name)
	}
	j.swaps.next++
	s := &swap{id: fmt.Sprintf("swap-%d", j.swaps.next), node: n, vertex: v, to: module, status: SwapInProgress}
	if j.swaps.byID == nil {
		j.swaps.byID = map[string]*swap{}
	}
	j.swaps.byID[s.id] = s
	// A completed swap on probation (until the next checkpoint confirms
	// it) is waited for: this one starts after it.
	j.swaps.queued = s
	j.swaps.mu.Unlock()
	jm.wg.Add(1)
	go func() {
		defer jm.wg.Done()
		if !jm.startSwap(j, s) {
			return
		}
		jm.runSwap(j, s)
	}()
	return s.id, nil
}

// startSwap waits for a swap on probation to be confirmed (or rolled back),
// then makes s the running swap, taking the module the operator runs then
// as the one to roll back to. It reports false when the job ended first.
func (jm *JobManager) startSwap(j *job, s *swap) bool {
	for {
		j.swaps.mu.Lock()
		if j.swaps.running == nil {
			j.swaps.running, j.swaps.queued = s, nil
			j.swaps.mu.Unlock()
			break
		}
		j.swaps.mu.Unlock()
		select {
		case <-j.done:
			j.swaps.mu.Lock()
			j.swaps.queued = nil
			j.swaps.mu.Unlock()
			jm.finishSwap(j, s, errors.New("the job ended"))
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	jm.mu.Lock()
	s.from = j.modules[s.node.ID]
	s.oldCtor = s.node.NewOperator
	if ov, ok := j.overrides[s.node.ID]; ok {
		s.oldCtor = ov
	}
	running := j.state == JobRunning
	jm.mu.Unlock()
	if !running {
		jm.finishSwap(j, s, errors.New("the job is no longer running"))
		return false
	}
	return true
}

// SwapStatus reports a swap: IN_PROGRESS, COMPLETED or FAILED (with why).
func (jm *JobManager) SwapStatus(id, requestID string) (status, failure string, err error) {
	j, err := jm.job(id)
	if err != nil {
		return "", "", err
	}
	j.swaps.mu.Lock()
	defer j.swaps.mu.Unlock()
	s, ok := j.swaps.byID[requestID]
	if !ok {
		return "", "", fmt.Errorf("%w: no swap %q in job %s", ErrUnknownJob, requestID, id)
	}
	return s.status, s.failure, nil
}

func (jm *JobManager) finishSwap(j *job, s *swap, err error) {
	j.swaps.mu.Lock()
	if s.status == SwapFailed && s.failure != "" {
		j.swaps.mu.Unlock()
		return // already failed and reported (rolled back)
	}
	if err != nil {
		s.status, s.failure = SwapFailed, err.Error()
		s.probation = false
	} else {
		s.status = SwapCompleted
	}
	if j.swaps.running == s && !s.probation {
		j.swaps.running = nil
	}
	j.swaps.mu.Unlock()
	if err != nil {
		jm.log.Warn("module swap failed", "job", j.id, "operator", s.node.Name, "module", s.to, "err", err)
		jm.emit(Event{Type: EventModuleSwapFailed, Job: j.id, Task: s.node.Name, Checkpoint: s.checkpoint, Message: fmt.Sprintf("%s → %s: %v", s.from, s.to, err)})
		return
	}
	jm.log.Info("module swapped", "job", j.id, "operator", s.node.Name, "from", s.from, "to", s.to, "checkpoint", s.checkpoint)
	jm.emit(Event{Type: EventModuleSwapped, Job: j.id, Task: s.node.Name, Checkpoint: s.checkpoint, Message: fmt.Sprintf("%s → %s", s.from, s.to)})
}

// runSwap compiles, prepares every subtask, and rides a checkpoint.
func (jm *JobManager) runSwap(j *job, s *swap) {
	ctor, err := s.node.Rebuild(s.to)
	if err != nil {
		jm.finishSwap(j, s, fmt.Errorf("loading %s: %w", s.to, err))
		return
	}
	s.newCtor = ctor
	targets := jm.vertexTasks(j, s.vertex)
	// Prepare every subtask at once.
	var prepared []ExecutionID
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for eid, tm := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := tm.PrepareSwap(context.Background(), eid, s.node.ID, ctor)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			prepared = append(prepared, eid)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		for _, p := range prepared {
			_ = targets[p].CancelSwap(context.Background(), p, s.node.ID)
		}
		jm.finishSwap(j, s, firstErr)
		return
	}
	// Ride a checkpoint; a checkpoint that fails is retried.
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		jm.mu.Lock()
		j.pendingModules = map[string]string{s.node.Name: s.to}
		jm.mu.Unlock()
		done, cp, err := j.coord.triggerWithID(task.FlagSwap, "")
		if err == errBusy {
			time.Sleep(20 * time.Millisecond)
			attempt--
			continue
		}
		if err == nil {
			j.swaps.mu.Lock()
			s.checkpoint = cp
			j.swaps.mu.Unlock()
			err = <-done
		}
		if err == nil {
			// Atomically with respect to swapRollback: unless the new
			// version already failed (and the swap was rolled back while
			// its checkpoint completed), it becomes the operator's version.
			jm.mu.Lock()
			j.swaps.mu.Lock()
			rolledBack := s.status == SwapFailed
			if !rolledBack {
				s.probation = true
				j.overrides[s.node.ID] = ctor
				j.modules[s.node.ID] = s.to
			}
			j.pendingModules = nil
			j.swaps.mu.Unlock()
			jm.mu.Unlock()
			if !rolledBack {
				jm.finishSwap(j, s, nil)
			}
			return
		}
		lastErr = err
		jm.mu.Lock()
		running := j.state == JobRunning
		jm.mu.Unlock()
		if !running {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	jm.mu.Lock()
	j.pendingModules = nil
	jm.mu.Unlock()
	for _, p := range prepared {
		_ = targets[p].CancelSwap(context.Background(), p, s.node.ID)
	}
	jm.finishSwap(j, s, fmt.Errorf("no checkpoint could carry the swap: %w", lastErr))
}

// vertexTasks returns the running subtasks of v.
func (jm *JobManager) vertexTasks(j *job, v *graph.JobVertex) map[ExecutionID]TaskManagerGateway {
	jm.mu.Lock()
	defer jm.mu.Unlock()
	out := map[ExecutionID]TaskManagerGateway{}
	for eid, tm := range j.placed {
		if eid.Vertex == v.ID {
			out[eid] = tm
		}
	}
	return out
}

// swapCheckpointCompleted ends the probation of a swap once a checkpoint
// after the one that carried it completes.
func (jm *JobManager) swapCheckpointCompleted(j *job, id int64) {
	j.swaps.mu.Lock()
	defer j.swaps.mu.Unlock()
	if s := j.swaps.running; s != nil && s.probation && id > s.checkpoint {
		s.probation = false
		j.swaps.running = nil
	}
}

// swapRollback, on a failure during a swap's probation, reverts the
// operator to its old version; the job then restarts from the checkpoint
// that carried the swap. It reports whether it did.
func (jm *JobManager) swapRollback(j *job, cause error) bool {
	j.swaps.mu.Lock()
	s := j.swaps.running
	if s != nil && !s.probation && s.checkpoint != 0 && s.status == SwapInProgress {
		// The new version took over at the barrier of checkpoint
		// s.checkpoint and failed before that checkpoint completed: the
		// job goes back to the previous checkpoint, with the old version
		// (its constructor was never replaced).
		s.status = SwapFailed
		s.failure = fmt.Sprintf("the new version failed after the barrier of checkpoint %d, before it completed; rolled back to %s at the previous checkpoint: %v", s.checkpoint, s.from, cause)
		j.swaps.running = nil
		j.swaps.mu.Unlock()
		jm.emit(Event{Type: EventModuleSwapFailed, Job: j.id, Task: s.node.Name, Checkpoint: s.checkpoint, Message: s.failure})
		return true
	}
	if s == nil || !s.probation {
		j.swaps.mu.Unlock()
		return false
	}
	s.probation = false
	j.swaps.mu.Unlock()
	jm.mu.Lock()
	j.overrides[s.node.ID] = s.oldCtor
	j.modules[s.node.ID] = s.from
	jm.mu.Unlock()
	jm.finishSwap(j, s, fmt.Errorf("the new version failed after checkpoint %d, rolled back to %s at that checkpoint: %v", s.checkpoint, s.from, cause))
	return true
}
