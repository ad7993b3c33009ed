package task

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/checkpoint"
	"github.com/freshet/freshet/engine/internal/failpoint"
	"github.com/freshet/freshet/engine/internal/network"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
)

// Barrier flags.
const (
	// FlagSavepoint marks a savepoint's barrier.
	FlagSavepoint uint32 = 1 << iota
	// FlagStop makes sources finish right after the barrier (stop with savepoint).
	FlagStop
)

// CheckpointSettings enable checkpointing for a deployment.
type CheckpointSettings struct {
	// Root is the job's checkpoint directory; checkpoint n is written to
	// Root/chk-n.
	Root string
	// AtLeastOnce skips barrier alignment: records after a barrier on one
	// channel may be processed before the checkpoint is taken.
	AtLeastOnce bool
	// Periodic is true when the job takes checkpoints on an interval (not
	// only savepoints).
	Periodic bool
}

// CheckpointingEnabled implements api.CheckpointInfo.
func (o *opRuntime) CheckpointingEnabled() bool {
	cs := o.task.d.Checkpoint
	return cs != nil && cs.Periodic
}

// postWait posts fn, waiting while the mailbox is full. It returns false if
// the task ended first.
func (t *Task) postWait(fn func() error) bool {
	for {
		if t.Post(fn) {
			return true
		}
		select {
		case <-t.done:
			return false
		case <-time.After(time.Millisecond):
		}
	}
}

// TriggerCheckpoint starts checkpoint id at a source task: between two
// polls, the task snapshots its operators and sends the barrier downstream.
func (t *Task) TriggerCheckpoint(id int64, flags uint32) bool {
	if len(t.d.Vertex.Inputs) > 0 {
		return false // barriers reach it through its inputs
	}
	return t.postWait(func() error { return t.performCheckpoint(id, flags) })
}

// NotifyCheckpoint tells the task's operators that checkpoint id completed
// (or was aborted).
func (t *Task) NotifyCheckpoint(id int64, complete bool) bool {
	return t.postWait(func() error {
		for _, o := range t.nodes {
			var target any = o.op
			if o.op == nil {
				target = t.source
			}
			l, ok := target.(api.CheckpointListener)
			if !ok {
				continue
			}
			var err error
			if complete {
				err = l.NotifyCheckpointComplete(id)
			} else {
				err = l.NotifyCheckpointAborted(id)
			}
			if err != nil {
				return o.fail(fmt.Sprintf("on completion of checkpoint %d", id), err)
			}
		}
		return nil
	})
}

// performCheckpoint snapshots every operator of the chain, forwards the
// barrier, and writes the state files asynchronously before acknowledging.
func (t *Task) performCheckpoint(id int64, flags uint32) error {
	cs := t.d.Checkpoint
	if cs == nil {
		return nil
	}
	start := time.Now()
	type file struct {
		w      *checkpoint.Writer
		snap   checkpoint.OperatorSnapshot
		native *state.NativeSnapshot // keyed state, when snapshotted natively
		o      *opRuntime
	}
	var files []file
	var snapErr error
	dropNative := func() {
		for _, f := range files {
			if f.native != nil {
				_ = os.RemoveAll(f.native.Dir)
			}
		}
	}
	for _, o := range t.nodes {
		w, snap, native, ok, err := o.snapshot(id, flags)
		if err != nil {
			snapErr = err
			break
		}
		if ok {
			files = append(files, file{w, snap, native, o})
		}
	}
	// The barrier goes downstream at once, so alignment downstream does not
	// wait for this task's files to be written.
	b := network.Buffer{Kind: network.Barrier, Value: id, Flags: flags}
	for _, o := range t.nodes {
		if err := o.broadcast(b, "sending a checkpoint barrier"); err != nil {
			dropNative()
			return err
		}
	}
	if flags&FlagSwap != 0 {
		if err := t.applySwaps(); err != nil {
			dropNative()
			return err
		}
	}
	syncDur := time.Since(start)
	for i := range files {
		files[i].snap.SyncDuration = syncDur
	}
	if flags&FlagStop != 0 && t.source != nil {
		t.stopRequested = true
	}
	report := t.env.OnCheckpoint
	if snapErr != nil {
		dropNative()
		if report != nil {
			report(t, id, nil, fmt.Errorf("%s: snapshotting for checkpoint %d: %w", t.d.Name(), id, snapErr))
		}
		return nil
	}
	dir := filepath.Join(cs.Root, "chk-"+strconv.FormatInt(id, 10))
	t.asyncWG.Add(1)
	go func() {
		defer t.asyncWG.Done()
		defer dropNative()
		snaps := make([]checkpoint.OperatorSnapshot, 0, len(files))
		var err error
		if err = os.MkdirAll(dir, 0o755); err == nil {
			for _, f := range files {
				if err = f.w.WriteFile(filepath.Join(dir, f.snap.Subtask.File)); err != nil {
					break
				}
				f.snap.Uploaded = f.snap.Subtask.Size
				failpoint.Hit(failpoint.DuringCheckpointWrite, id)
				if f.native != nil {
					if err = f.o.uploadNative(t.ctx, dir, id, f.native, &f.snap); err != nil {
						break
					}
				}
				snaps = append(snaps, f.snap)
			}
		}
		if err != nil {
			err = fmt.Errorf("%s: writing checkpoint %d: %w", t.d.Name(), id, err)
		}
		t.log.Debug("checkpoint written", "checkpoint", id, "sync", syncDur, "total", time.Since(start), "err", err)
		if report != nil {
			report(t, id, snaps, err)
		}
	}()
	return nil
}

// snapshot encodes the operator's keyed state, timers and own state; keyed
// state is snapshotted natively (native.go) when flags and backend allow.
func (o *opRuntime) snapshot(id int64, flags uint32) (_ *checkpoint.Writer, _ checkpoint.OperatorSnapshot, native *state.NativeSnapshot, _ bool, err error) {
	t := o.task
	var target any = o.op
	if o.op == nil {
		target = t.source
	}
	cf, hasOwn := target.(api.CheckpointedFunction)
	if o.backend == nil && !hasOwn {
		return nil, checkpoint.OperatorSnapshot{}, nil, false, nil
	}
	defer func() {
		if err != nil && native != nil {
			_ = os.RemoveAll(native.Dir)
			native = nil
		}
	}()
	w := checkpoint.NewWriter()
	snap := checkpoint.OperatorSnapshot{Name: o.node.Name}
	kgs := checkpoint.NoKeyGroups
	if o.backend != nil {
		kgs = t.keyedStateOptions(o.node).KeyGroups
		if ns, ok := o.nativeSnapshotter(flags); ok {
			if native, err = o.takeNative(ns, id); err != nil {
				return nil, snap, nil, false, err
			}
		} else if err := o.backend.Snapshot(func(e *state.Entry) error { w.Keyed(e); return nil }); err != nil {
			return nil, snap, nil, false, fmt.Errorf("operator %q keyed state: %w", o.node.Name, err)
		}
		o.timers.snapshot(w, t.d.Graph.MaxParallelism)
		if o.checkUnused {
			o.checkUnused = false
			o.warnUnusedState()
		}
	}
	if hasOwn {
		entries, err := cf.SnapshotState(id)
		if err != nil {
			return nil, snap, native, false, fmt.Errorf("operator %q: %w", o.node.Name, err)
		}
		for _, e := range entries {
			w.OpState(e)
		}
		snap.Distribution = cf.StateDistribution()
	}
	size, sum := w.Finish()
	snap.Subtask = checkpoint.SubtaskMeta{
		Subtask:   t.d.Subtask,
		KeyGroups: kgs,
		File:      checkpoint.FileName(o.node.Name, t.d.Subtask, t.d.Attempt),
		Size:      size,
		Hash:      strconv.FormatUint(sum, 16),
	}
	return w, snap, native, true, nil
}

// warnUnusedState logs the keyed states the operator restored but has not
// declared by its first checkpoint after the restore: state written under a
// name the operator no longer uses (a renamed or removed descriptor). The
// state is not dropped: it stays in checkpoints, so renaming back finds it.
func (o *opRuntime) warnUnusedState() {
	lister, ok := o.backend.(state.StateLister)
	if !ok {
		return
	}
	declared := map[string]bool{}
	for _, d := range o.backend.Descriptors() {
		declared[d.Name] = true
	}
	for _, name := range lister.StateNames() {
		if !declared[name] {
			o.log.Warn("restored keyed state is not used by the operator (renamed or removed state descriptor?); it is kept in checkpoints",
				"operator", o.node.Name, "state", name)
		}
	}
}

// restore loads the operator's state from the deployment's checkpoint,
// before the operator opens.
func (o *opRuntime) restore(target any) error {
	c := o.task.d.Restore
	if c == nil {
		return nil
	}
	t := o.task
	kgs := checkpoint.NoKeyGroups
	if o.backend != nil {
		kgs = t.keyedStateOptions(o.node).KeyGroups
	}
	if err := o.restoreNative(c); err != nil {
		return fmt.Errorf("%s: restoring %q: %w", t.d.Name(), o.node.Name, err)
	}
	var entries [][]byte
	found, err := c.Restore(o.node.Name, t.d.Subtask, o.node.Parallelism, kgs, checkpoint.Visitor{
		Keyed: func(e *state.Entry) error {
			if o.backend == nil {
				return fmt.Errorf("the checkpoint holds keyed state %q for %q, which is no longer keyed", e.State, o.node.Name)
			}
			return o.backend.Restore(e)
		},
		Timer: func(tm *checkpoint.Timer) error {
			if o.timers == nil {
				return nil
			}
			return o.timers.restore(tm)
		},
		OpState: func(p []byte) error {
			entries = append(entries, append([]byte(nil), p...))
			return nil
		},
	})
	if err != nil {
		return fmt.Errorf("%s: restoring %q: %w", t.d.Name(), o.node.Name, err)
	}
	if !found {
		return nil
	}
	o.checkUnused = o.backend != nil
	if cf, ok := target.(api.CheckpointedFunction); ok {
		if err := cf.RestoreState(entries); err != nil {
			return fmt.Errorf("%s: restoring %q: %w", t.d.Name(), o.node.Name, err)
		}
	} else if len(entries) > 0 {
		return fmt.Errorf("%s: the checkpoint holds operator state for %q, which keeps none now", t.d.Name(), o.node.Name)
	}
	return nil
}

// snapshot writes every live timer.
func (s *timerService) snapshot(w *checkpoint.Writer, maxParallelism int) {
	for _, q := range []timerQueue{s.event, s.proc} {
		for _, e := range q {
			if _, live := s.set[e.id]; !live {
				continue
			}
			w.Timer(&checkpoint.Timer{Domain: e.domain, Timestamp: e.ts, KeyGroup: keygroup.Of(e.key, maxParallelism), Key: e.key, Namespace: e.ns})
		}
	}
}

// restore re-registers a snapshotted timer.
func (s *timerService) restore(tm *checkpoint.Timer) error {
	ks := s.o.backend
	ks.SetCurrentKey(tm.Key)
	ks.SetCurrentNamespace(tm.Namespace)
	defer ks.SetCurrentNamespace(nil)
	return s.register(tm.Domain, tm.Timestamp)
}
