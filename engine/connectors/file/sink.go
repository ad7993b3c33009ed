package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/internal/recfmt"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// flushSize is how much a sink buffers before writing to its part file.
const flushSize = 64 << 10

// BuildSink validates a file sink's params.
//
//	sinks:
//	  - name: out
//	    type: file
//	    path: out/            # a directory, created if missing
//	    format: json          # value (default), key-value, json
//	    rolling-size: 128MiB  # start a new part file beyond this size
//	    prefix: part          # part file names: <prefix>-<subtask>-<n><suffix>
//	    suffix: .jsonl
func BuildSink(p *params.Params) (registry.Operator, error) {
	cfg := SinkConfig{}
	if p.Required("path") {
		cfg.Dir = p.String("path", "")
		if strings.TrimSpace(cfg.Dir) == "" {
			p.Errorf("path", "must name a directory")
		} else if fi, err := os.Stat(cfg.Dir); err == nil && !fi.IsDir() {
			p.Errorf("path", "%s is a file, not a directory", cfg.Dir)
		}
	}
	cfg.Format = recfmt.ParseFormat(p)
	cfg.RollingSize = p.Size("rolling-size", 128<<20)
	if cfg.RollingSize < 1 {
		p.Errorf("rolling-size", "must be positive")
	}
	cfg.Prefix = p.String("prefix", "part")
	if cfg.Prefix == "" || strings.ContainsAny(cfg.Prefix, `/\`) || strings.HasPrefix(cfg.Prefix, ".") {
		p.Errorf("prefix", "%q must be a non-empty file name that does not start with '.'", cfg.Prefix)
	}
	cfg.Suffix = p.String("suffix", "")
	if strings.ContainsAny(cfg.Suffix, `/\`) {
		p.Errorf("suffix", "%q must not contain a path separator", cfg.Suffix)
	}
	if err := p.Err(); err != nil {
		return registry.Operator{}, err
	}
	return registry.Operator{New: func() (api.Operator, error) { return NewSink(cfg), nil }}, nil
}

// SinkConfig configures a file sink.
type SinkConfig struct {
	Dir         string
	Format      recfmt.Format
	RollingSize int64
	Prefix      string
	Suffix      string
}

// Pending is a complete part file waiting to be committed: it is still
// under its in-progress name.
type Pending struct {
	InProgress string // full path of the written file
	Final      string // full path it is renamed to on commit
}

// Sink writes records as lines into rolling part files of a directory.
//
// Subtask s writes part files numbered n = 0, 1, ... (continuing after the
// highest number already in the directory). A part file is written under
// the hidden in-progress name ".<prefix>-<s>-<n><suffix>.inprogress" and only
// becomes visible as "<prefix>-<s>-<n><suffix>" when committed, so a reader
// of the directory never sees half a file.
//
// The part file rolls (is closed and a new one started) when it reaches
// rolling-size and when the input ends (Finish). Today a rolled part file is
// committed at once. The two steps are separate methods so that exactly-once
// checkpointing can commit per checkpoint instead: call PrepareCommit when
// the checkpoint barrier arrives (it closes the open part file and returns
// every pending one, to be kept in the checkpoint), and Commit when the
// checkpoint completes (or, after a failure, when restoring it: Commit is
// idempotent). Set CommitOnRoll to false for that mode.
//
// A subtask that fails leaves its open part file under the in-progress name;
// the next Open of the same subtask deletes such leftovers, since nothing
// committed them.
type Sink struct {
	cfg SinkConfig
	// CommitOnRoll commits each part file as soon as it rolls (the default
	// today). When false, rolled files wait for PrepareCommit and Commit.
	CommitOnRoll bool

	// Checkpoint mode (the job takes periodic checkpoints): part files roll
	// at every checkpoint and are committed when it completes.
	cpMode   bool
	byCP     []pendingCheckpoint // prepared, not yet committed, by checkpoint
	restored []Pending           // from the checkpoint restored, to commit at Open

	ctx     api.Context
	subtask int
	part    int // number of the next part file
	f       *os.File
	cur     Pending
	size    int64 // bytes in the open part file, written or buffered
	buf     []byte
	pending []Pending
}

// NewSink returns a sink that commits on roll.
func NewSink(cfg SinkConfig) *Sink { return &Sink{cfg: cfg, CommitOnRoll: true} }

func (s *Sink) finalName(n int) string {
	return s.cfg.Prefix + "-" + strconv.Itoa(s.subtask) + "-" + strconv.Itoa(n) + s.cfg.Suffix
}

type pendingCheckpoint struct {
	id    int64
	files []Pending
}

// Open creates the directory, commits the part files a restored checkpoint
// holds, finds the next part number of the subtask and deletes the
// subtask's other uncommitted leftovers.
func (s *Sink) Open(ctx api.Context) error {
	s.ctx, s.subtask = ctx, ctx.Subtask()
	if ci, ok := ctx.(api.CheckpointInfo); ok && ci.CheckpointingEnabled() {
		s.cpMode, s.CommitOnRoll = true, false
	}
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("file sink %q: %w", ctx.OperatorName(), err)
	}
	// Every subtask gets every restored pending file (union distribution):
	// committing is idempotent, and no subtask deletes a file another one
	// still has to commit.
	keep := map[string]bool{}
	if len(s.restored) > 0 {
		if err := s.Commit(s.restored); err != nil {
			return fmt.Errorf("file sink %q: committing the part files of the restored checkpoint: %w", ctx.OperatorName(), err)
		}
		for _, p := range s.restored {
			keep[filepath.Base(p.InProgress)] = true
		}
		s.restored = nil
	}
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("file sink %q: listing %s: %w", ctx.OperatorName(), s.cfg.Dir, err)
	}
	base := s.cfg.Prefix + "-" + strconv.Itoa(s.subtask) + "-"
	for _, e := range entries {
		name := e.Name()
		inProgress := strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".inprogress")
		if inProgress {
			name = strings.TrimSuffix(strings.TrimPrefix(name, "."), ".inprogress")
		}
		if !strings.HasPrefix(name, base) || !strings.HasSuffix(name, s.cfg.Suffix) {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, base), s.cfg.Suffix))
		if err != nil || n < 0 {
			continue
		}
		if inProgress && !keep[e.Name()] {
			path := filepath.Join(s.cfg.Dir, e.Name())
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("file sink %q: removing uncommitted %s: %w", ctx.OperatorName(), path, err)
			}
			ctx.Logger().Info("removed uncommitted part file", "path", path)
			continue
		}
		if inProgress {
			continue
		}
		s.part = max(s.part, n+1)
	}
	s.buf = make([]byte, 0, flushSize+4096)
	return nil
}

func (s *Sink) openPart() error {
	final := s.finalName(s.part)
	s.cur = Pending{
		InProgress: filepath.Join(s.cfg.Dir, "."+final+".inprogress"),
		Final:      filepath.Join(s.cfg.Dir, final),
	}
	s.part++
	f, err := os.OpenFile(s.cur.InProgress, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("file sink: opening part file: %w", err)
	}
	s.f, s.size = f, 0
	return nil
}

func (s *Sink) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	if _, err := s.f.Write(s.buf); err != nil {
		return fmt.Errorf("file sink: writing %s: %w", s.cur.InProgress, err)
	}
	s.buf = s.buf[:0]
	return nil
}

// ProcessBatch appends every record of in as a line.
func (s *Sink) ProcessBatch(in *api.Batch, _ api.Output) error {
	for i := range in.Records {
		if s.f == nil {
			if err := s.openPart(); err != nil {
				return err
			}
		}
		n := len(s.buf)
		s.buf = recfmt.Append(s.buf, s.cfg.Format, &in.Records[i])
		s.size += int64(len(s.buf) - n)
		if len(s.buf) >= flushSize {
			if err := s.flush(); err != nil {
				return err
			}
		}
		if s.size >= s.cfg.RollingSize {
			if err := s.roll(); err != nil {
				return err
			}
		}
	}
	return nil
}

// ProcessWatermark does nothing: a file sink has no event-time behaviour.
func (s *Sink) ProcessWatermark(int64, api.Output) error { return nil }

// roll closes the open part file and, in CommitOnRoll mode, commits it.
func (s *Sink) roll() error {
	if err := s.closePart(); err != nil {
		return err
	}
	if !s.CommitOnRoll {
		return nil
	}
	p, err := s.PrepareCommit()
	if err != nil {
		return err
	}
	return s.Commit(p)
}

// closePart flushes, syncs and closes the open part file and adds it to the
// pending ones.
func (s *Sink) closePart() error {
	if s.f == nil {
		return nil
	}
	err := s.flush()
	if err == nil {
		if err = s.f.Sync(); err != nil {
			err = fmt.Errorf("file sink: syncing %s: %w", s.cur.InProgress, err)
		}
	}
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("file sink: closing %s: %w", s.cur.InProgress, cerr)
	}
	s.f = nil
	if err != nil {
		return err
	}
	s.pending = append(s.pending, s.cur)
	return nil
}

// PrepareCommit closes the open part file (the next record starts a new one)
// and returns every part file that is complete but not committed; the sink
// forgets them, and the caller commits them with Commit.
func (s *Sink) PrepareCommit() ([]Pending, error) {
	if err := s.closePart(); err != nil {
		return nil, err
	}
	p := s.pending
	s.pending = nil
	return p, nil
}

// Commit renames pending part files to their final names and syncs the
// directory. It is idempotent: a file already committed is skipped, so a
// commit can be repeated after a restore.
func (s *Sink) Commit(pending []Pending) error {
	if len(pending) == 0 {
		return nil
	}
	for _, p := range pending {
		if err := os.Rename(p.InProgress, p.Final); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if _, serr := os.Stat(p.Final); serr == nil {
					continue // committed before
				}
			}
			return fmt.Errorf("file sink: committing %s: %w", p.Final, err)
		}
	}
	dir, err := os.Open(filepath.Dir(pending[0].Final))
	if err != nil {
		return fmt.Errorf("file sink: syncing directory: %w", err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("file sink: syncing directory %s: %w", dir.Name(), err)
	}
	return nil
}

// Finish rolls and commits the last part file: the input has ended, so
// everything written is final (in checkpoint mode too).
func (s *Sink) Finish(api.Output) error {
	p, err := s.PrepareCommit()
	if err != nil {
		return err
	}
	for _, cp := range s.byCP {
		p = append(cp.files, p...)
	}
	s.byCP = nil
	return s.Commit(p)
}

// SnapshotState, in checkpoint mode, rolls the open part file and records
// every part file not yet committed, by checkpoint.
func (s *Sink) SnapshotState(id int64) ([][]byte, error) {
	if !s.cpMode {
		return nil, nil
	}
	p, err := s.PrepareCommit()
	if err != nil {
		return nil, err
	}
	if len(p) > 0 {
		s.byCP = append(s.byCP, pendingCheckpoint{id: id, files: p})
	}
	var out [][]byte
	for _, cp := range s.byCP {
		for _, f := range cp.files {
			e := binary.AppendVarint(nil, cp.id)
			e = binary.AppendUvarint(e, uint64(len(f.InProgress)))
			e = append(e, f.InProgress...)
			e = append(e, f.Final...)
			out = append(out, e)
		}
	}
	return out, nil
}

// RestoreState takes the part files pending in the restored checkpoint;
// Open commits them.
func (s *Sink) RestoreState(entries [][]byte) error {
	for _, e := range entries {
		_, n := binary.Varint(e)
		if n <= 0 {
			return fmt.Errorf("file sink: malformed pending part file in the checkpoint")
		}
		l, m := binary.Uvarint(e[n:])
		if m <= 0 || uint64(len(e)-n-m) < l {
			return fmt.Errorf("file sink: malformed pending part file in the checkpoint")
		}
		rest := e[n+m:]
		s.restored = append(s.restored, Pending{InProgress: string(rest[:l]), Final: string(rest[l:])})
	}
	return nil
}

// StateDistribution is union: see Open.
func (s *Sink) StateDistribution() api.Distribution { return api.UnionDistribution }

// NotifyCheckpointComplete commits the part files of checkpoint id and of
// every earlier one.
func (s *Sink) NotifyCheckpointComplete(id int64) error {
	var commit []Pending
	keep := s.byCP[:0]
	for _, cp := range s.byCP {
		if cp.id <= id {
			commit = append(commit, cp.files...)
		} else {
			keep = append(keep, cp)
		}
	}
	s.byCP = keep
	return s.Commit(commit)
}

// NotifyCheckpointAborted keeps the files for the next checkpoint.
func (s *Sink) NotifyCheckpointAborted(int64) error { return nil }

// Close closes an open part file without committing it.
func (s *Sink) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("file sink: closing %s: %w", s.cur.InProgress, err)
	}
	return nil
}
