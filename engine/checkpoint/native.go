package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/freshet/freshet/engine/state"
)

// SharedDirName is the directory under the checkpoint root that holds the
// files shared between checkpoints (immutable native files, by name).
const SharedDirName = "shared"

// NativeMeta lists the files of a subtask's native snapshot (keyed state in
// the state backend's own format, state.NativeSnapshotter).
type NativeMeta struct {
	// Format is the snapshot's state.NativeSnapshot.Format.
	Format string           `json:"format"`
	Files  []NativeFileMeta `json:"files"`
}

// NativeFileMeta locates one file of a native snapshot.
type NativeFileMeta struct {
	// Name is the file's name in the snapshot (what the backend opens).
	Name string `json:"name"`
	// Shared is the file's name under the root's shared/ directory; empty
	// for a private file.
	Shared string `json:"shared,omitempty"`
	// File is a private file's name in the checkpoint directory.
	File string `json:"file,omitempty"`
	Size int64  `json:"size"`
	Hash string `json:"xxhash64"`
}

// Sum returns the file's recorded hash.
func (f NativeFileMeta) Sum() (uint64, error) { return strconv.ParseUint(f.Hash, 16, 64) }

// Size is the total size of the native files.
func (m *NativeMeta) Size() int64 {
	if m == nil {
		return 0
	}
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// NativeFileName is the name of a private native file in a checkpoint
// directory: the subtask's state file name with the file's name in place of
// the ".state" suffix.
func NativeFileName(operator string, subtask, attempt int, name string) string {
	return fmt.Sprintf("%s-%d-%d.%s", sanitize(operator), subtask, attempt, sanitize(name))
}

// Uploader copies native snapshots into checkpoint storage. It remembers
// the size and hash of every shared file it copied (or that a restored
// checkpoint listed), so a later checkpoint that holds the same file only
// checks that it is still there: an incremental checkpoint writes only the
// files that are new since the previous one. Use one Uploader per backend
// instance; it is safe for concurrent use.
type Uploader struct {
	mu    sync.Mutex
	known map[string]knownFile // shared name → what it holds
}

type knownFile struct {
	size int64
	sum  uint64
}

// Remember records the shared files of a restored snapshot as present in
// storage with the recorded sizes and hashes.
func (u *Uploader) Remember(m *NativeMeta) {
	if m == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.known == nil {
		u.known = map[string]knownFile{}
	}
	for _, f := range m.Files {
		if sum, err := f.Sum(); err == nil && f.Shared != "" {
			u.known[f.Shared] = knownFile{size: f.Size, sum: sum}
		}
	}
}

func (u *Uploader) lookup(name string) (knownFile, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	k, ok := u.known[name]
	return k, ok
}

func (u *Uploader) record(name string, k knownFile) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.known == nil {
		u.known = map[string]knownFile{}
	}
	u.known[name] = k
}

// forgetAllBut drops what the uploader knows about files that are not in
// snap: a backend never gets a file back once it left its live set, so
// only the current snapshot's files can be reused later.
func (u *Uploader) forgetAllBut(snap *state.NativeSnapshot) {
	live := make(map[string]bool, len(snap.Files))
	for _, f := range snap.Files {
		live[f.Shared] = true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for name := range u.known {
		if !live[name] {
			delete(u.known, name)
		}
	}
}

// Upload stores snap in the checkpoint directory dir (chk-<id> under the
// checkpoint root): each shared file goes to the root's shared/ directory
// unless a file of that name and of the remembered size is there already,
// each private file to dir under NativeFileName(operator, subtask, attempt,
// name). Every file is synced and hashed while it is copied. Upload returns
// the snapshot's metadata and the number of bytes it wrote; afterFile, if
// not nil, is called after each file copied.
//
// A shared file that is found and reused gets its modification time
// refreshed: the retention of a concurrently completing checkpoint never
// deletes a shared file touched after that checkpoint began.
func (u *Uploader) Upload(ctx context.Context, dir, operator string, subtask, attempt int, snap *state.NativeSnapshot, afterFile func()) (*NativeMeta, int64, error) {
	shared := filepath.Join(filepath.Dir(dir), SharedDirName)
	if err := os.MkdirAll(shared, 0o755); err != nil {
		return nil, 0, fmt.Errorf("uploading native snapshot: %w", err)
	}
	meta := &NativeMeta{Format: snap.Format, Files: make([]NativeFileMeta, 0, len(snap.Files))}
	var written int64
	var wroteShared, wrotePrivate bool
	for _, f := range snap.Files {
		if err := ctx.Err(); err != nil {
			return nil, written, fmt.Errorf("uploading native snapshot: %w", context.Cause(ctx))
		}
		fm := NativeFileMeta{Name: f.Name, Shared: f.Shared}
		var k knownFile
		if f.Shared != "" {
			if err := checkSharedName(f.Shared); err != nil {
				return nil, written, err
			}
			to := filepath.Join(shared, f.Shared)
			var reused bool
			if known, ok := u.lookup(f.Shared); ok && known.size == f.Size {
				if st, err := os.Stat(to); err == nil && st.Size() == known.size {
					now := time.Now()
					reused = os.Chtimes(to, now, now) == nil
					k = known
				}
			}
			if !reused {
				var err error
				if k, err = copyAtomic(ctx, snap.Path(f), to); err != nil {
					return nil, written, fmt.Errorf("uploading shared file %s: %w", f.Shared, err)
				}
				u.record(f.Shared, k)
				written += k.size
				wroteShared = true
				if afterFile != nil {
					afterFile()
				}
			}
		} else {
			fm.File = NativeFileName(operator, subtask, attempt, f.Name)
			var err error
			if k, err = copyFile(ctx, snap.Path(f), filepath.Join(dir, fm.File), os.O_CREATE|os.O_TRUNC|os.O_WRONLY); err != nil {
				return nil, written, fmt.Errorf("uploading native file %s: %w", f.Name, err)
			}
			written += k.size
			wrotePrivate = true
			if afterFile != nil {
				afterFile()
			}
		}
		if k.size != f.Size {
			return nil, written, fmt.Errorf("uploading native file %s: it has %d bytes, the snapshot listed %d (was it changed?)", f.Name, k.size, f.Size)
		}
		fm.Size, fm.Hash = k.size, strconv.FormatUint(k.sum, 16)
		meta.Files = append(meta.Files, fm)
	}
	u.forgetAllBut(snap)
	if wroteShared {
		syncDir(shared)
	}
	if wrotePrivate {
		syncDir(dir)
	}
	return meta, written, nil
}

// checkSharedName refuses a shared name that would leave shared/.
func checkSharedName(name string) error {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." || name[0] == '.' {
		return fmt.Errorf("native snapshot: %q is not a valid shared file name", name)
	}
	return nil
}

// copyAtomic copies from to to through a temporary file renamed into place,
// so a reader (or a concurrent upload of the same file) never sees part of it.
func copyAtomic(ctx context.Context, from, to string) (knownFile, error) {
	tmp, err := os.CreateTemp(filepath.Dir(to), "."+filepath.Base(to)+".tmp-*")
	if err != nil {
		return knownFile{}, err
	}
	name := tmp.Name()
	_ = tmp.Close()
	k, err := copyFile(ctx, from, name, os.O_TRUNC|os.O_WRONLY)
	if err == nil {
		err = os.Rename(name, to)
	}
	if err != nil {
		_ = os.Remove(name)
		return knownFile{}, err
	}
	return k, nil
}

// copyFile copies from to to (opened with flag), synced, hashing the bytes.
func copyFile(ctx context.Context, from, to string, flag int) (k knownFile, err error) {
	in, err := os.Open(from)
	if err != nil {
		return k, err
	}
	defer in.Close()
	out, err := os.OpenFile(to, flag, 0o644)
	if err != nil {
		return k, err
	}
	h := xxhash.New()
	n, err := copyCtx(ctx, io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(to)
		return k, err
	}
	return knownFile{size: n, sum: h.Sum64()}, nil
}

// copyCtx copies in 1 MiB steps, stopping when ctx is done.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, context.Cause(ctx)
		}
		m, err := r.Read(buf)
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return n, werr
			}
			n += int64(m)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// hashFile returns the size and xxhash64 of the file at path.
func hashFile(path string, h hash.Hash64) (int64, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	n, err := io.Copy(h, f)
	return n, h.Sum64(), err
}

// SharedDir is the directory of the files c shares with other checkpoints
// (shared/ beside its directory).
func (c *Checkpoint) SharedDir() string {
	return filepath.Join(filepath.Dir(c.Dir), SharedDirName)
}

// nativePath is where f of a native snapshot of c is stored.
func (c *Checkpoint) nativePath(f NativeFileMeta) string {
	if f.Shared != "" {
		return filepath.Join(c.SharedDir(), f.Shared)
	}
	return filepath.Join(c.Dir, f.File)
}

func (c *Checkpoint) verifyNative(m *NativeMeta) error {
	h := xxhash.New()
	for _, f := range m.Files {
		if f.Shared != "" {
			if err := checkSharedName(f.Shared); err != nil {
				return fmt.Errorf("%w: %s: %v", ErrCorrupt, c.Dir, err)
			}
		} else if f.File == "" || f.File != filepath.Base(f.File) {
			return fmt.Errorf("%w: %s: native file %q has no valid location", ErrCorrupt, c.Dir, f.Name)
		}
		if f.Name == "" || f.Name != filepath.Base(f.Name) || f.Name == "." || f.Name == ".." {
			return fmt.Errorf("%w: %s: %q is not a valid native file name", ErrCorrupt, c.Dir, f.Name)
		}
		sum, err := f.Sum()
		if err != nil {
			return fmt.Errorf("%w: %s: bad hash %q for native file %s", ErrCorrupt, c.Dir, f.Hash, f.Name)
		}
		path := c.nativePath(f)
		h.Reset()
		n, got, err := hashFile(path, h)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s: native file %s is missing (a checkpoint with native snapshots needs the %s/ directory beside it)", ErrCorrupt, c.Dir, path, SharedDirName)
		}
		if err != nil {
			return fmt.Errorf("verifying %s: %w", path, err)
		}
		if n != f.Size {
			return fmt.Errorf("%w: %s has %d bytes, the checkpoint metadata says %d", ErrCorrupt, path, n, f.Size)
		}
		if got != sum {
			return fmt.Errorf("%w: %s fails its checksum", ErrCorrupt, path)
		}
	}
	return nil
}

// MaterializeNative puts the files of st's native snapshot into dir (which
// is created) under their names, ready for state.NativeSnapshotter's
// OpenNative or state.ReadNative: shared files are hard-linked when the
// file system allows (they are immutable), private ones copied.
func (c *Checkpoint) MaterializeNative(st SubtaskMeta, dir string) (state.NativeSnapshot, error) {
	snap := state.NativeSnapshot{Dir: dir, KeyGroups: st.KeyGroups}
	if st.Native == nil {
		return snap, fmt.Errorf("checkpoint %s: subtask %d has no native snapshot", c.Dir, st.Subtask)
	}
	snap.Format = st.Native.Format
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return snap, fmt.Errorf("materializing a native snapshot of %s: %w", c.Dir, err)
	}
	for _, f := range st.Native.Files {
		if f.Name == "" || f.Name != filepath.Base(f.Name) {
			return snap, fmt.Errorf("%w: %s: %q is not a valid native file name", ErrCorrupt, c.Dir, f.Name)
		}
		from, to := c.nativePath(f), filepath.Join(dir, f.Name)
		var err error
		if f.Shared == "" || os.Link(from, to) != nil {
			_, err = copyFile(context.Background(), from, to, os.O_CREATE|os.O_EXCL|os.O_WRONLY)
		}
		if err != nil {
			return snap, fmt.Errorf("materializing native file %s of %s: %w", f.Name, c.Dir, err)
		}
		snap.Files = append(snap.Files, state.NativeFile{Name: f.Name, Shared: f.Shared, Size: f.Size})
	}
	return snap, nil
}

// collectShared deletes the files of shared/ that no complete checkpoint
// under the root references, except those modified at or after `since`
// (the start of the checkpoint being completed): a checkpoint in progress
// only writes or touches files after it began. If any complete
// checkpoint's metadata cannot be read, nothing is deleted.
func (s *Storage) collectShared(since time.Time) {
	dir := filepath.Join(s.Dir, SharedDirName)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	refs := map[string]bool{}
	for _, id := range listIDs(s.Dir) {
		path := filepath.Join(chkDir(s.Dir, id), MetadataFile)
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // incomplete: protected by `since`
		}
		var m Metadata
		if err == nil {
			err = json.Unmarshal(data, &m)
		}
		if err != nil {
			s.logger().Warn("not deleting unused shared checkpoint files: a checkpoint's metadata is unreadable", "metadata", path, "err", err)
			return
		}
		for _, op := range m.Operators {
			for _, st := range op.Subtasks {
				if st.Native == nil {
					continue
				}
				for _, f := range st.Native.Files {
					if f.Shared != "" {
						refs[f.Shared] = true
					}
				}
			}
		}
	}
	removed := 0
	for _, e := range entries {
		if refs[e.Name()] {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(since) {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			removed++
		}
	}
	if removed > 0 {
		s.logger().Debug("deleted unused shared checkpoint files", "dir", dir, "files", removed)
	}
}
