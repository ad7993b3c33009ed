package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
)

// MetadataFile is the name of the file that makes a checkpoint complete.
const MetadataFile = "_metadata"

// FormatVersion is the version of the metadata and state file format
// written by this Freshet: 2 when a checkpoint holds native snapshots
// (SubtaskMeta.Native), which readers of version 1 would silently ignore;
// 1 otherwise, so checkpoints and savepoints without them stay readable by
// older versions.
const FormatVersion = 2

// formatVersionCanonical is the version of metadata without native snapshots.
const formatVersionCanonical = 1

// Metadata describes a complete checkpoint or savepoint.
type Metadata struct {
	Version        int            `json:"version"`
	ID             int64          `json:"id"`
	Savepoint      bool           `json:"savepoint,omitempty"`
	Timestamp      time.Time      `json:"timestamp"`
	Job            string         `json:"job"`
	MaxParallelism int            `json:"maxParallelism"`
	Operators      []OperatorMeta `json:"operators"`
	// FinishedSources lists source subtasks that had read all their input
	// before the checkpoint: a restore does not run them again (their
	// records are already in the state downstream).
	FinishedSources []FinishedSource `json:"finishedSources,omitempty"`
}

// FinishedSource is a source subtask that had ended.
type FinishedSource struct {
	Operator    string `json:"operator"`
	Subtask     int    `json:"subtask"`
	Parallelism int    `json:"parallelism"`
}

// SourceFinished reports whether subtask of parallelism of source operator
// had ended at this checkpoint: recorded for that subtask at the same
// parallelism, or for every subtask of the operator.
func (m *Metadata) SourceFinished(operator string, subtask, parallelism int) bool {
	n, total := 0, 0
	for _, f := range m.FinishedSources {
		if f.Operator != operator {
			continue
		}
		n++
		total = f.Parallelism
		if f.Subtask == subtask && f.Parallelism == parallelism {
			return true
		}
	}
	return total > 0 && n == total
}

// OperatorMeta is the state of one operator, by subtask. Operators are
// identified by name across restarts.
type OperatorMeta struct {
	Name         string           `json:"name"`
	Parallelism  int              `json:"parallelism"`
	Distribution api.Distribution `json:"distribution"`
	// Module is the WebAssembly module version the operator ran, if any.
	Module   string        `json:"module,omitempty"`
	Subtasks []SubtaskMeta `json:"subtasks"`
}

// SubtaskMeta locates one operator subtask's state file and, when its
// keyed state was snapshotted natively, the files of that snapshot (the
// state file then holds only timers and operator state).
type SubtaskMeta struct {
	Subtask   int            `json:"subtask"`
	KeyGroups keygroup.Range `json:"keyGroups"`
	File      string         `json:"file"`
	Size      int64          `json:"size"`
	Hash      string         `json:"xxhash64"`
	Native    *NativeMeta    `json:"native,omitempty"`
}

// Sum returns the file's recorded hash.
func (s SubtaskMeta) Sum() (uint64, error) { return strconv.ParseUint(s.Hash, 16, 64) }

// StateSize is the size of everything the subtask's state consists of: its
// state file and its native files, shared with other checkpoints or not.
func (s SubtaskMeta) StateSize() int64 { return s.Size + s.Native.Size() }

// Operator returns the metadata of the operator called name.
func (m *Metadata) Operator(name string) (*OperatorMeta, bool) {
	for i := range m.Operators {
		if m.Operators[i].Name == name {
			return &m.Operators[i], true
		}
	}
	return nil, false
}

// Storage keeps a job's checkpoints in a directory.
type Storage struct {
	Dir string
	// Retain is how many complete checkpoints to keep (default 3).
	Retain int
	Log    *slog.Logger
}

// Pending is a checkpoint being written.
type Pending struct {
	ID  int64
	Dir string
	st  *Storage
	// began is when the checkpoint started: shared files written or reused
	// since then are never collected when it completes.
	began time.Time
}

func chkDir(root string, id int64) string { return filepath.Join(root, fmt.Sprintf("chk-%d", id)) }

// Begin prepares the directory of checkpoint id, removing what a crashed
// earlier attempt may have left there.
func (s *Storage) Begin(id int64) (*Pending, error) {
	began := time.Now()
	dir := chkDir(s.Dir, id)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("checkpoint %d: clearing %s: %w", id, dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint %d: %w", id, err)
	}
	return &Pending{ID: id, Dir: dir, st: s, began: began}, nil
}

// BeginAt prepares a savepoint in dir, which must not hold one already.
func BeginAt(dir string, id int64) (*Pending, error) {
	if _, err := os.Stat(filepath.Join(dir, MetadataFile)); err == nil {
		return nil, fmt.Errorf("savepoint directory %s already holds a savepoint", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	return &Pending{ID: id, Dir: dir}, nil
}

// FileName is the state file name of an operator subtask.
func FileName(operator string, subtask, attempt int) string {
	return fmt.Sprintf("%s-%d-%d.state", sanitize(operator), subtask, attempt)
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// Complete writes the metadata (atomically: to a temporary name, synced,
// then renamed) and removes checkpoints beyond the retention, then the
// shared files no remaining checkpoint references.
func (p *Pending) Complete(m Metadata) error {
	m.Version = formatVersionCanonical
	if m.hasNative() {
		m.Version = FormatVersion
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(p.Dir, MetadataFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("checkpoint %d: writing metadata: %w", p.ID, err)
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(p.Dir, MetadataFile))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("checkpoint %d: writing metadata: %w", p.ID, err)
	}
	if d, err := os.Open(p.Dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	if p.st != nil {
		p.st.retain()
		p.st.collectShared(p.began)
	}
	return nil
}

func (m *Metadata) hasNative() bool {
	for _, op := range m.Operators {
		for _, st := range op.Subtasks {
			if st.Native != nil {
				return true
			}
		}
	}
	return false
}

func (s *Storage) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Abort removes the partial checkpoint.
func (p *Pending) Abort() {
	if p.st != nil { // never remove a user's savepoint directory wholesale
		_ = os.RemoveAll(p.Dir)
	}
}

// retain removes complete checkpoints older than the newest Retain, and
// incomplete ones older than the newest complete one.
func (s *Storage) retain() {
	keep := s.Retain
	if keep <= 0 {
		keep = 3
	}
	ids := listIDs(s.Dir)
	complete := 0
	for i := len(ids) - 1; i >= 0; i-- {
		dir := chkDir(s.Dir, ids[i])
		_, err := os.Stat(filepath.Join(dir, MetadataFile))
		if err == nil {
			complete++
			if complete > keep {
				_ = os.RemoveAll(dir)
			}
		} else if complete > 0 {
			_ = os.RemoveAll(dir)
		}
	}
}

func listIDs(root string) []int64 {
	ents, _ := os.ReadDir(root)
	var ids []int64
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "chk-") {
			continue
		}
		if id, err := strconv.ParseInt(strings.TrimPrefix(e.Name(), "chk-"), 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// LatestID returns the highest checkpoint id present under root (complete or
// not), so a resumed job numbers its checkpoints after it.
func LatestID(root string) int64 {
	ids := listIDs(root)
	if len(ids) == 0 {
		return 0
	}
	return ids[len(ids)-1]
}

// Checkpoint is a complete checkpoint or savepoint found on disk.
type Checkpoint struct {
	Dir  string
	Meta Metadata
}

// ErrNoCheckpoint says a directory holds no complete, intact checkpoint.
var ErrNoCheckpoint = errors.New("no complete checkpoint")

// Open reads the checkpoint or savepoint in dir and verifies every file.
func Open(dir string) (*Checkpoint, error) {
	data, err := os.ReadFile(filepath.Join(dir, MetadataFile))
	if err != nil {
		return nil, fmt.Errorf("%w in %s: %v", ErrNoCheckpoint, dir, err)
	}
	var m Metadata
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, filepath.Join(dir, MetadataFile), err)
	}
	if m.Version < formatVersionCanonical || m.Version > FormatVersion {
		return nil, fmt.Errorf("%s: format version %d is not supported (this freshet reads %d to %d)", dir, m.Version, formatVersionCanonical, FormatVersion)
	}
	c := &Checkpoint{Dir: dir, Meta: m}
	if err := c.Verify(); err != nil {
		return nil, err
	}
	return c, nil
}

// Verify checks every state file's and native file's size and checksum.
func (c *Checkpoint) Verify() error {
	for _, op := range c.Meta.Operators {
		for _, st := range op.Subtasks {
			sum, err := st.Sum()
			if err != nil {
				return fmt.Errorf("%w: %s: bad hash %q for %s", ErrCorrupt, c.Dir, st.Hash, st.File)
			}
			if err := Read(filepath.Join(c.Dir, st.File), st.Size, sum, Visitor{}); err != nil {
				return err
			}
			if st.Native != nil {
				if err := c.verifyNative(st.Native); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Find returns the checkpoint at path: path itself when it holds one (a
// savepoint or a chk-N directory), else the newest intact complete
// checkpoint under it. A corrupt newer checkpoint is skipped and logged.
func Find(path string, log *slog.Logger) (*Checkpoint, error) {
	if log == nil {
		log = slog.Default()
	}
	if _, err := os.Stat(filepath.Join(path, MetadataFile)); err == nil {
		return Open(path)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("checkpoint directory: %w", err)
	}
	ids := listIDs(path)
	for i := len(ids) - 1; i >= 0; i-- {
		dir := chkDir(path, ids[i])
		if _, err := os.Stat(filepath.Join(dir, MetadataFile)); err != nil {
			continue // never completed
		}
		c, err := Open(dir)
		if err == nil {
			return c, nil
		}
		log.Warn("skipping a damaged checkpoint, falling back to the previous one", "checkpoint", dir, "err", err)
	}
	return nil, fmt.Errorf("%w under %s", ErrNoCheckpoint, path)
}

// Restore reads what subtask `subtask` of `parallelism` of operator name
// gets from c: keyed entries and timers of key groups in kgs, and operator
// state entries per the recorded distribution. It reports false when the
// checkpoint holds nothing for the operator.
func (c *Checkpoint) Restore(name string, subtask, parallelism int, kgs keygroup.Range, v Visitor) (bool, error) {
	op, ok := c.Meta.Operator(name)
	if !ok {
		return false, nil
	}
	// Keyed state and timers: from every old subtask whose range overlaps.
	keyed := Visitor{
		Keyed: func(e *state.Entry) error {
			if !kgs.Contains(e.KeyGroup) || v.Keyed == nil {
				return nil
			}
			return v.Keyed(e)
		},
		Timer: func(t *Timer) error {
			if !kgs.Contains(t.KeyGroup) || v.Timer == nil {
				return nil
			}
			return v.Timer(t)
		},
	}
	var opEntries [][]byte
	// Split operator state goes round robin over the new subtasks, except
	// at an unchanged parallelism: then each subtask gets back its own
	// entries. Subtasks that had finished have no state in the checkpoint
	// and do not run again; round robin would hand them the entries of the
	// ones still running, which would then be lost.
	same := op.Distribution != api.UnionDistribution && op.Parallelism == parallelism
	subs := append([]SubtaskMeta(nil), op.Subtasks...)
	sort.Slice(subs, func(i, j int) bool { return subs[i].Subtask < subs[j].Subtask })
	for _, st := range subs {
		sum, err := st.Sum()
		if err != nil {
			return false, fmt.Errorf("%w: %s: bad hash for %s", ErrCorrupt, c.Dir, st.File)
		}
		own := !same || st.Subtask == subtask
		collect := func(p []byte) error {
			if own {
				opEntries = append(opEntries, append([]byte(nil), p...))
			}
			return nil
		}
		vis := Visitor{OpState: collect}
		if st.KeyGroups.Start <= kgs.End && kgs.Start <= st.KeyGroups.End {
			vis.Keyed, vis.Timer = keyed.Keyed, keyed.Timer
		}
		if err := Read(filepath.Join(c.Dir, st.File), st.Size, sum, vis); err != nil {
			return false, fmt.Errorf("restoring %q from %s: %w", name, c.Dir, err)
		}
	}
	if v.OpState != nil {
		for i, p := range opEntries {
			if same || op.Distribution == api.UnionDistribution || i%parallelism == subtask {
				if err := v.OpState(p); err != nil {
					return false, err
				}
			}
		}
	}
	return true, nil
}

// OperatorSnapshot is what one operator subtask contributed to a checkpoint.
type OperatorSnapshot struct {
	Name         string
	Distribution api.Distribution
	Subtask      SubtaskMeta
	// Uploaded is the number of bytes written for this checkpoint: the
	// state file and the native files not already in storage.
	Uploaded int64
	// SyncDuration is how long the subtask's task paused to snapshot: from
	// the start of its snapshot to the barrier forwarded.
	SyncDuration time.Duration
}

// NoKeyGroups is the key-group range of an operator without keyed state.
var NoKeyGroups = keygroup.Range{Start: 0, End: -1}

// BuildMetadata groups acknowledged operator snapshots into metadata.
func BuildMetadata(id int64, job string, maxParallelism int, parallelism map[string]int, snaps []OperatorSnapshot) Metadata {
	m := Metadata{ID: id, Timestamp: time.Now().UTC(), Job: job, MaxParallelism: maxParallelism}
	byName := map[string]int{}
	for _, s := range snaps {
		i, ok := byName[s.Name]
		if !ok {
			i = len(m.Operators)
			byName[s.Name] = i
			m.Operators = append(m.Operators, OperatorMeta{Name: s.Name, Parallelism: parallelism[s.Name], Distribution: s.Distribution})
		}
		m.Operators[i].Subtasks = append(m.Operators[i].Subtasks, s.Subtask)
	}
	sort.Slice(m.Operators, func(i, j int) bool { return m.Operators[i].Name < m.Operators[j].Name })
	for i := range m.Operators {
		subs := m.Operators[i].Subtasks
		sort.Slice(subs, func(a, b int) bool { return subs[a].Subtask < subs[b].Subtask })
	}
	return m
}
