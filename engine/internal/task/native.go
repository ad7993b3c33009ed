package task

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/freshet/freshet/engine/checkpoint"
	"github.com/freshet/freshet/engine/internal/failpoint"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
)

// Incremental checkpoints of keyed state (engine/checkpoint's doc has the
// storage side). A checkpoint, not a savepoint, of an operator whose
// backend implements state.NativeSnapshotter snapshots natively: the
// synchronous part is the backend's NativeSnapshot into a local directory
// beside its state; the task's checkpoint writer then uploads the files
// (only those not in shared storage yet) and removes the local copy.
// Timers and operator state stay in the canonical state file.

// nativeSnapshotter returns the operator's backend when checkpoint flags
// call for a native snapshot.
func (o *opRuntime) nativeSnapshotter(flags uint32) (state.NativeSnapshotter, bool) {
	if flags&FlagSavepoint != 0 || o.backend == nil {
		return nil, false // savepoints stay canonical and self-contained
	}
	ns, ok := o.backend.(state.NativeSnapshotter)
	return ns, ok
}

// localDir is where the operator's local files other than its state go:
// beside the backend's directory, so that hard links work.
func (o *opRuntime) localDir() string {
	if d := o.task.keyedStateOptions(o.node).Dir; d != "" {
		return filepath.Dir(d)
	}
	return os.TempDir()
}

func (o *opRuntime) localName(suffix string) string {
	t := o.task
	return filepath.Join(o.localDir(), fmt.Sprintf("%s.%s", checkpoint.FileName(o.node.Name, t.d.Subtask, t.d.Attempt), suffix))
}

// takeNative is the synchronous part of a native snapshot.
func (o *opRuntime) takeNative(ns state.NativeSnapshotter, id int64) (*state.NativeSnapshot, error) {
	dir := o.localName("native-" + strconv.FormatInt(id, 10))
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("operator %q: clearing %s: %w", o.node.Name, dir, err)
	}
	snap, err := ns.NativeSnapshot(id, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("operator %q keyed state: %w", o.node.Name, err)
	}
	return snap, nil
}

// uploadNative stores snap in the checkpoint directory dir and records it
// in s, then removes the local copy.
func (o *opRuntime) uploadNative(ctx context.Context, dir string, id int64, snap *state.NativeSnapshot, s *checkpoint.OperatorSnapshot) error {
	defer os.RemoveAll(snap.Dir)
	t := o.task
	meta, n, err := o.uploads.Upload(ctx, dir, o.node.Name, t.d.Subtask, t.d.Attempt, snap, func() {
		failpoint.Hit(failpoint.DuringCheckpointWrite, id)
	})
	s.Uploaded += n
	if err != nil {
		return fmt.Errorf("operator %q: %w", o.node.Name, err)
	}
	s.Subtask.Native = meta
	return nil
}

// restoreNative loads the keyed state that c holds as native snapshots for
// the operator's key groups, before the canonical state file is read.
//
// When the operator's backend takes native snapshots of the same format,
// it is replaced by one opened from them (state.NativeSnapshotter's
// OpenNative): with an unchanged key-group range that is a hard link per
// file, whatever the state's size; after a rescale the snapshot that
// overlaps most is the base and the others' entries are copied in.
// Otherwise (another backend, or another format) every snapshot is read
// as canonical entries (state.ReadNative) into the backend.
func (o *opRuntime) restoreNative(c *checkpoint.Checkpoint) error {
	op, ok := c.Meta.Operator(o.node.Name)
	if !ok {
		return nil
	}
	t := o.task
	opts := t.keyedStateOptions(o.node)
	var subs []checkpoint.SubtaskMeta
	for _, st := range op.Subtasks {
		if st.Native != nil && overlap(st.KeyGroups, opts.KeyGroups) > 0 {
			subs = append(subs, st)
		}
	}
	if len(subs) == 0 {
		return nil
	}
	if o.backend == nil {
		return fmt.Errorf("the checkpoint holds keyed state for %q, which is no longer keyed", o.node.Name)
	}
	sort.SliceStable(subs, func(i, j int) bool {
		return overlap(subs[i].KeyGroups, opts.KeyGroups) > overlap(subs[j].KeyGroups, opts.KeyGroups)
	})
	start := time.Now()
	staging := o.localName("restore")
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("clearing %s: %w", staging, err)
	}
	defer os.RemoveAll(staging)
	snaps := make([]state.NativeSnapshot, len(subs))
	for i, st := range subs {
		s, err := c.MaterializeNative(st, filepath.Join(staging, strconv.Itoa(st.Subtask)))
		if err != nil {
			return err
		}
		snaps[i] = s
	}
	if ns, ok := o.backend.(state.NativeSnapshotter); ok && sameFormat(snaps, ns.NativeFormat()) {
		if err := o.backend.Close(); err != nil {
			return fmt.Errorf("closing the empty backend of %q: %w", o.node.Name, err)
		}
		if err := os.RemoveAll(opts.Dir); err != nil {
			return fmt.Errorf("clearing %s: %w", opts.Dir, err)
		}
		b, err := ns.OpenNative(opts, snaps)
		if err != nil {
			return err
		}
		o.backend = b
		o.uploads.Remember(subs[0].Native)
		o.log.Debug("keyed state opened from native snapshots", "checkpoint", c.Dir, "snapshots", len(snaps), "took", time.Since(start))
		return nil
	}
	for _, s := range snaps {
		if err := state.ReadNative(s, opts, o.backend.Restore); err != nil {
			return err
		}
	}
	o.log.Debug("keyed state read from native snapshots", "checkpoint", c.Dir, "snapshots", len(snaps), "took", time.Since(start))
	return nil
}

func overlap(a, b keygroup.Range) int {
	return keygroup.Range{Start: max(a.Start, b.Start), End: min(a.End, b.End)}.Len()
}

func sameFormat(snaps []state.NativeSnapshot, format string) bool {
	for _, s := range snaps {
		if s.Format != format {
			return false
		}
	}
	return true
}
