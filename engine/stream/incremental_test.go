package stream_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/checkpoint"
	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/heap"
	"github.com/freshet/freshet/engine/state/rocksdb"
	"github.com/freshet/freshet/engine/stream"
)

// workload drives keyed state through phases for incremental checkpoint
// tests: phase 0 writes every key, later phases rewrite a share of them
// (a key written in phase i holds version i+1). A phase starts once a
// checkpoint taken after the previous one ended has completed, so each
// phase's changes are exactly what one checkpoint adds. In probe mode the
// source instead asks for every key's version once, and the job ends.
type workload struct {
	keys       int
	valueBytes int
	phases     [][]int
	probe      bool
	// probeStride probes every probeStride-th key only (0: every key).
	probeStride int
	// hold keeps the source running after the last phase (for a savepoint).
	hold bool
	// gate[i], if not nil, holds phase i back until it is closed.
	gate []chan struct{}
	// after[i] is the first checkpoint taken after phase i ended.
	after []atomic.Int64
	// restored is when the last keyed subtask opened, its state restored
	// (unix ns).
	restored atomic.Int64
}

func newWorkload(keys, valueBytes int, changedShares ...float64) *workload {
	w := &workload{keys: keys, valueBytes: valueBytes}
	all := make([]int, keys)
	for i := range all {
		all[i] = i
	}
	w.phases = append(w.phases, all)
	for p, share := range changedShares {
		n := max(1, int(float64(keys)*share))
		var ks []int
		for i := 0; i < n; i++ {
			ks = append(ks, (i*7919+p*104729)%keys) // spread over key groups
		}
		w.phases = append(w.phases, ks)
	}
	w.after = make([]atomic.Int64, len(w.phases))
	return w
}

// versions is what a probe of every key must return after all phases.
func (w *workload) versions() []string {
	v := make([]int, w.keys)
	for p, ks := range w.phases {
		for _, k := range ks {
			v[k] = p + 1
		}
	}
	out := make([]string, w.keys)
	for k := range out {
		out[k] = fmt.Sprintf("k%d=v%d", k, v[k])
	}
	sortStrings(out)
	return out
}

type phaseSource struct {
	w          *workload
	phase, pos int
	key, val   []byte
}

func (s *phaseSource) Open(ctx api.Context) error { return nil }

func (s *phaseSource) Poll(out api.SourceContext) (api.SourceStatus, error) {
	if s.w.probe {
		stride := max(1, s.w.probeStride)
		for i := 0; i < 256 && s.pos < s.w.keys; i++ {
			s.key = strconv.AppendInt(append(s.key[:0], 'k'), int64(s.pos), 10)
			out.Collect(s.key, []byte("0"))
			s.pos += stride
		}
		if s.pos >= s.w.keys {
			if s.w.hold {
				return api.NothingAvailable, nil
			}
			return api.EndOfInput, nil
		}
		return api.MoreAvailable, nil
	}
	if s.phase == len(s.w.phases) {
		if s.w.hold {
			return api.NothingAvailable, nil
		}
		return api.EndOfInput, nil
	}
	ks := s.w.phases[s.phase]
	if s.pos == 0 && s.phase < len(s.w.gate) && s.w.gate[s.phase] != nil {
		select {
		case <-s.w.gate[s.phase]:
		default:
			return api.NothingAvailable, nil
		}
	}
	if s.pos == len(ks) {
		return api.NothingAvailable, nil // until the phase's checkpoint completes
	}
	s.val = strconv.AppendInt(s.val[:0], int64(s.phase+1), 10)
	for i := 0; i < 256 && s.pos < len(ks); i++ {
		s.key = strconv.AppendInt(append(s.key[:0], 'k'), int64(ks[s.pos]), 10)
		out.Collect(s.key, s.val)
		s.pos++
	}
	return api.MoreAvailable, nil
}

func (s *phaseSource) Close() error { return nil }

func (s *phaseSource) SnapshotState(id int64) ([][]byte, error) {
	if !s.w.probe && s.phase < len(s.w.phases) && s.pos == len(s.w.phases[s.phase]) {
		s.w.after[s.phase].CompareAndSwap(0, id)
	}
	return nil, nil
}

func (s *phaseSource) RestoreState([][]byte) error         { return nil }
func (s *phaseSource) StateDistribution() api.Distribution { return api.UnionDistribution }

func (s *phaseSource) NotifyCheckpointComplete(id int64) error {
	if s.phase < len(s.w.phases) {
		if a := s.w.after[s.phase].Load(); a != 0 && id >= a {
			s.phase, s.pos = s.phase+1, 0
		}
	}
	return nil
}

func (s *phaseSource) NotifyCheckpointAborted(int64) error { return nil }

var blobDesc = api.StateDescriptor{Name: "blob", Kind: api.ValueStateKind}

// blob is the value of key at version: 8 bytes of version, then
// pseudo-random bytes (incompressible, so stored size ≈ logical size).
func blob(key []byte, version uint64, n int) []byte {
	b := make([]byte, 8+n)
	binary.BigEndian.PutUint64(b, version)
	x := version*0x9e3779b97f4a7c15 + 1
	for _, c := range key {
		x = (x ^ uint64(c)) * 0x100000001b3
	}
	for i := 8; i < len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x)
		copy(b[i:], w[:])
	}
	return b
}

// build adds the workload's job to env: source → keyed "blobs" (writes or
// probes) → sink.
func (w *workload) build(env *stream.Environment, c *collector) {
	env.FromSource("updates", func() (api.Source, error) { return &phaseSource{w: w}, nil }).SetParallelism(1).
		KeyBy(nil).
		Process("blobs", stream.ProcessFunction{
			Open: func(api.Context) error {
				now := time.Now().UnixNano()
				for {
					if old := w.restored.Load(); old >= now || w.restored.CompareAndSwap(old, now) {
						return nil
					}
				}
			},
			Process: func(ctx api.Context, r *api.Record, out api.Output) error {
				st, err := ctx.KeyedState().Value(blobDesc)
				if err != nil {
					return err
				}
				version, err := strconv.ParseUint(string(r.Value), 10, 64)
				if err != nil {
					return err
				}
				if version > 0 {
					return st.Put(blob(r.Key, version, w.valueBytes))
				}
				v, ok, err := st.Get()
				if err != nil {
					return err
				}
				got := "missing"
				if ok && len(v) >= 8 {
					got = "v" + strconv.FormatUint(binary.BigEndian.Uint64(v), 10)
					if string(v) != string(blob(r.Key, binary.BigEndian.Uint64(v), w.valueBytes)) {
						got += "-corrupt"
					}
				}
				out.Emit(&api.Record{Key: r.Key, Value: []byte(got)})
				return nil
			},
		}).
		AddSink("collect", c.sink())
}

func statsOf(t testing.TB, cps []cluster.CheckpointStats, id int64) cluster.CheckpointStats {
	t.Helper()
	for _, cp := range cps {
		if cp.ID == id {
			if cp.Status != "COMPLETED" {
				t.Fatalf("checkpoint %d: %s %s", id, cp.Status, cp.Error)
			}
			return cp
		}
	}
	t.Fatalf("no statistics for checkpoint %d in %+v", id, cps)
	return cluster.CheckpointStats{}
}

func TestIncrementalCheckpointsUploadWhatChanged(t *testing.T) {
	const keys, valueBytes = 8000, 1000
	// A state cache much smaller than the state: what a checkpoint writes
	// is then mostly RocksDB's new files, whether or not the job has been
	// quiet long enough for its tasks to write the cache back (a
	// checkpoint also writes the cache's dirty entries, at most a quarter
	// of it, in a file of its own; TestQuietJobWritesItsStateCacheBack).
	cfg := rocksdb.Defaults()
	cfg.StateCacheSize = 256 << 10
	res, err := rocksdb.NewSharedResources(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	rocks := func(o state.Options) (state.Backend, error) { return rocksdb.New(o, res) }
	dir := t.TempDir()

	// Write every key, then twice 1% of the keys, at parallelism 2.
	w := newWorkload(keys, valueBytes, 0.01, 0.01)
	env := stream.NewEnvironment(stream.Config{
		Parallelism: 2,
		State:       rocks,
		Checkpoint:  &cluster.CheckpointConfig{Interval: 200 * time.Millisecond, Dir: dir},
	})
	var c collector
	w.build(env, &c)
	jc, err := env.ExecuteAsync(context.Background(), "incremental")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jc.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	cps, _ := jc.Checkpoints()
	full := statsOf(t, cps, w.after[0].Load())
	if full.Size < keys*valueBytes || full.CheckpointedSize <= 0 || full.SyncDuration <= 0 {
		t.Fatalf("checkpoint after writing every key: %+v, want more than %d bytes of state", full, keys*valueBytes)
	}
	for p := 1; p < len(w.phases); p++ {
		inc := statsOf(t, cps, w.after[p].Load())
		share := float64(inc.CheckpointedSize) / float64(inc.Size)
		t.Logf("phase %d: 1%% of keys changed: checkpoint %d wrote %d of %d bytes (%.2f%%), sync %s",
			p, inc.ID, inc.CheckpointedSize, inc.Size, 100*share, inc.SyncDuration)
		// 1% of the values, plus each subtask's new manifest and options
		// files (~25 KB) and the metadata of the default column family.
		if share > 0.03 {
			t.Errorf("checkpoint %d after changing 1%% of the keys wrote %.1f%% of the state", inc.ID, 100*share)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, checkpoint.SharedDirName)); len(entries) == 0 {
		t.Fatal("no shared files")
	}

	// Restore the last checkpoint: same parallelism on RocksDB (opened
	// natively), rescaled on RocksDB, and into the heap backend.
	for _, tc := range []struct {
		name    string
		par     int
		backend func(state.Options) (state.Backend, error)
	}{
		{"rocksdb p=2", 2, rocks},
		{"rocksdb p=3", 3, rocks},
		{"heap p=1", 1, heap.New},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probe := newWorkload(keys, valueBytes)
			probe.probe = true
			env := stream.NewEnvironment(stream.Config{Parallelism: tc.par, State: tc.backend, RestoreFrom: dir})
			var c collector
			probe.build(env, &c)
			if _, err := env.Execute(context.Background(), "probe"); err != nil {
				t.Fatal(err)
			}
			equal(t, c.sorted(), w.versions())
		})
	}

	// Restored natively, a subtask shares the files it inherited: its first
	// checkpoint writes next to nothing.
	t.Run("rocksdb p=2 checkpoints again", func(t *testing.T) {
		probe := newWorkload(keys, valueBytes)
		probe.probe, probe.hold = true, true
		env := stream.NewEnvironment(stream.Config{
			Parallelism: 2,
			State:       rocks,
			RestoreFrom: dir,
			Checkpoint:  &cluster.CheckpointConfig{Interval: 100 * time.Millisecond, Dir: dir},
		})
		var c collector
		probe.build(env, &c)
		jc, err := env.ExecuteAsync(context.Background(), "restored")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = jc.Cancel(context.Background()); _, _ = jc.Wait(context.Background()) }()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			cps, _ := jc.Checkpoints()
			i := slices.IndexFunc(cps, func(cp cluster.CheckpointStats) bool { return cp.Status == "COMPLETED" })
			if i >= 0 {
				cp := cps[i]
				t.Logf("first checkpoint after the restore wrote %d of %d bytes", cp.CheckpointedSize, cp.Size)
				if cp.Size < keys*valueBytes || cp.CheckpointedSize*50 > cp.Size {
					t.Fatalf("first checkpoint after a native restore: %+v, want more than %d bytes of state of which less than 2%% written", cp, keys*valueBytes)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint completed: %+v", cps)
			}
		}
	})
}

// A job whose state fits the state cache checkpoints the cache's dirty
// entries in a file of their own; once it goes quiet, its tasks write them
// back to RocksDB (state.IdleWorker), and its checkpoints become small:
// RocksDB's files are shared with the checkpoint before.
func TestQuietJobWritesItsStateCacheBack(t *testing.T) {
	const keys, valueBytes = 8000, 1000
	res, err := rocksdb.NewSharedResources(rocksdb.Defaults()) // a 32 MiB cache holds the 8 MB
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	w := newWorkload(keys, valueBytes)
	w.hold = true
	env := stream.NewEnvironment(stream.Config{
		Parallelism: 2,
		State:       func(o state.Options) (state.Backend, error) { return rocksdb.New(o, res) },
		Checkpoint:  &cluster.CheckpointConfig{Interval: 100 * time.Millisecond, Dir: t.TempDir()},
	})
	var c collector
	w.build(env, &c)
	jc, err := env.ExecuteAsync(context.Background(), "quiet")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = jc.Cancel(context.Background()); _, _ = jc.Wait(context.Background()) }()
	var seen []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		after := w.after[0].Load()
		cps, _ := jc.Checkpoints()
		seen = seen[:0]
		for _, cp := range cps {
			if after == 0 || cp.ID < after || cp.Status != "COMPLETED" {
				continue
			}
			seen = append(seen, fmt.Sprintf("%d: %d of %d", cp.ID, cp.CheckpointedSize, cp.Size))
			if cp.Size >= keys*valueBytes && cp.CheckpointedSize*50 < cp.Size {
				return // less than 2% new
			}
		}
	}
	t.Fatalf("no small checkpoint once the job went quiet (checkpoint: bytes written of state): %v", seen)
}
