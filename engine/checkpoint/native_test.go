package checkpoint_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/checkpoint"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// snapFile is a file of a fake native snapshot: shared when shared != "".
type snapFile struct{ name, shared, content string }

// nativeSnap writes files into a new snapshot directory, as a backend's
// NativeSnapshot would.
func nativeSnap(t *testing.T, files ...snapFile) *state.NativeSnapshot {
	t.Helper()
	dir := t.TempDir()
	s := &state.NativeSnapshot{Format: "test/1", Dir: dir, KeyGroups: keygroup.Range{Start: 0, End: 127}}
	for _, f := range files {
		must(t, os.WriteFile(filepath.Join(dir, f.name), []byte(f.content), 0o644))
		s.Files = append(s.Files, state.NativeFile{Name: f.name, Shared: f.shared, Size: int64(len(f.content))})
	}
	return s
}

// storeCheckpoint writes checkpoint id with one subtask whose native
// snapshot is snap, uploaded by u, and completes it. It returns the bytes
// written.
func storeCheckpoint(t *testing.T, st *checkpoint.Storage, id int64, u *checkpoint.Uploader, snap *state.NativeSnapshot) int64 {
	t.Helper()
	p, err := st.Begin(id)
	must(t, err)
	meta, n := upload(t, u, p, snap)
	complete(t, p, meta)
	return n
}

func upload(t *testing.T, u *checkpoint.Uploader, p *checkpoint.Pending, snap *state.NativeSnapshot) (*checkpoint.NativeMeta, int64) {
	t.Helper()
	meta, n, err := u.Upload(context.Background(), p.Dir, "op", 0, 0, snap, nil)
	must(t, err)
	return meta, n
}

func complete(t *testing.T, p *checkpoint.Pending, native *checkpoint.NativeMeta) {
	t.Helper()
	w := checkpoint.NewWriter()
	size, sum := w.Finish()
	file := checkpoint.FileName("op", 0, 0)
	must(t, w.WriteFile(filepath.Join(p.Dir, file)))
	snap := checkpoint.OperatorSnapshot{Name: "op", Subtask: checkpoint.SubtaskMeta{
		KeyGroups: keygroup.Range{Start: 0, End: 127}, File: file, Size: size, Hash: strconv.FormatUint(sum, 16), Native: native,
	}}
	must(t, p.Complete(checkpoint.BuildMetadata(p.ID, "job", 128, map[string]int{"op": 1}, []checkpoint.OperatorSnapshot{snap})))
}

func sharedFiles(t *testing.T, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, checkpoint.SharedDirName))
	must(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func TestUploadCopiesOnlyNewSharedFiles(t *testing.T) {
	root := t.TempDir()
	st := &checkpoint.Storage{Dir: root, Retain: 10}
	var u checkpoint.Uploader
	big := strings.Repeat("a", 1000)

	// The first checkpoint writes everything.
	s1 := nativeSnap(t, snapFile{"1.sst", "x-1.sst", big}, snapFile{"2.sst", "x-2.sst", big}, snapFile{"MANIFEST", "", "m1"})
	if n := storeCheckpoint(t, st, 1, &u, s1); n != 2002 {
		t.Fatalf("first checkpoint wrote %d bytes, want 2002", n)
	}
	// The second shares 1.sst: it writes the new SST and the private file.
	s2 := nativeSnap(t, snapFile{"1.sst", "x-1.sst", big}, snapFile{"3.sst", "x-3.sst", "ccc"}, snapFile{"MANIFEST", "", "m2"})
	if n := storeCheckpoint(t, st, 2, &u, s2); n != 5 {
		t.Fatalf("second checkpoint wrote %d bytes, want 5 (3.sst and MANIFEST)", n)
	}
	if got := strings.Join(sharedFiles(t, root), " "); got != "x-1.sst x-2.sst x-3.sst" {
		t.Fatalf("shared/ holds %s", got)
	}

	// A file that went missing from storage is copied again.
	must(t, os.Remove(filepath.Join(root, checkpoint.SharedDirName, "x-3.sst")))
	if n := storeCheckpoint(t, st, 3, &u, s2); n != 5 {
		t.Fatalf("after losing x-3.sst the checkpoint wrote %d bytes, want 5", n)
	}
	// An uploader that knows nothing copies everything; one that remembers a
	// restored checkpoint copies only the private files.
	var fresh checkpoint.Uploader
	if n := storeCheckpoint(t, st, 4, &fresh, s2); n != 1005 {
		t.Fatalf("fresh uploader wrote %d bytes, want 1005", n)
	}
	c, err := checkpoint.Open(filepath.Join(root, "chk-4"))
	must(t, err)
	var restored checkpoint.Uploader
	restored.Remember(c.Meta.Operators[0].Subtasks[0].Native)
	if n := storeCheckpoint(t, st, 5, &restored, s2); n != 2 {
		t.Fatalf("uploader of a restored checkpoint wrote %d bytes, want 2", n)
	}

	// The metadata records every file, and the checkpoint restores.
	sub := c.Meta.Operators[0].Subtasks[0]
	if sub.StateSize() != sub.Size+1005 || sub.Native.Format != "test/1" || len(sub.Native.Files) != 3 {
		t.Fatalf("native metadata %+v", sub.Native)
	}
	if c.Meta.Version != checkpoint.FormatVersion {
		t.Fatalf("metadata with native files has version %d", c.Meta.Version)
	}
	dir := filepath.Join(t.TempDir(), "restore")
	snap, err := c.MaterializeNative(sub, dir)
	must(t, err)
	if snap.Format != "test/1" || len(snap.Files) != 3 {
		t.Fatalf("materialized %+v", snap)
	}
	for _, f := range s2.Files {
		want, _ := os.ReadFile(s2.Path(f))
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		must(t, err)
		if string(got) != string(want) {
			t.Fatalf("materialized %s differs", f.Name)
		}
	}
}

func TestUploadRefusesBadInput(t *testing.T) {
	root := t.TempDir()
	p, err := (&checkpoint.Storage{Dir: root}).Begin(1)
	must(t, err)
	var u checkpoint.Uploader
	for _, name := range []string{"../escape.sst", ".hidden", "a/b"} {
		s := nativeSnap(t, snapFile{"1.sst", "", "x"})
		s.Files[0].Shared = name
		if _, _, err := u.Upload(context.Background(), p.Dir, "op", 0, 0, s, nil); err == nil {
			t.Errorf("shared name %q accepted", name)
		}
	}
	// A file that changed since the snapshot listed it.
	s := nativeSnap(t, snapFile{"1.sst", "x-1.sst", "abc"})
	s.Files[0].Size = 2
	if _, _, err := u.Upload(context.Background(), p.Dir, "op", 0, 0, s, nil); err == nil {
		t.Error("a file whose size changed was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := u.Upload(ctx, p.Dir, "op", 0, 0, nativeSnap(t, snapFile{"2.sst", "x-2.sst", "abc"}), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("upload with a cancelled context: %v", err)
	}
}

func TestRetentionDeletesOnlyUnreferencedSharedFiles(t *testing.T) {
	root := t.TempDir()
	st := &checkpoint.Storage{Dir: root, Retain: 2}
	var u checkpoint.Uploader
	f := func(n string) snapFile { return snapFile{n + ".sst", "x-" + n + ".sst", n} }
	m := snapFile{"MANIFEST", "", "m"}

	storeCheckpoint(t, st, 1, &u, nativeSnap(t, f("a"), f("b"), m))
	storeCheckpoint(t, st, 2, &u, nativeSnap(t, f("a"), f("c"), f("z"), m))
	// Retaining 2 and 3 drops checkpoint 1, and with it x-b.sst.
	storeCheckpoint(t, st, 3, &u, nativeSnap(t, f("a"), f("d"), m))
	if got := strings.Join(sharedFiles(t, root), " "); got != "x-a.sst x-c.sst x-d.sst x-z.sst" {
		t.Fatalf("after checkpoint 3, shared/ holds %s", got)
	}
	if _, err := os.Stat(filepath.Join(root, "chk-1")); !os.IsNotExist(err) {
		t.Fatalf("chk-1 was retained: %v", err)
	}

	// Checkpoint 4 completes while 5, begun later, is still uploading: the
	// files 5 wrote or reused survive, an old orphan does not.
	orphan := filepath.Join(root, checkpoint.SharedDirName, "x-orphan.sst")
	must(t, os.WriteFile(orphan, []byte("o"), 0o644))
	old := time.Now().Add(-time.Hour)
	must(t, os.Chtimes(orphan, old, old))
	for _, n := range []string{"x-a.sst", "x-c.sst", "x-z.sst"} { // as if written long ago
		must(t, os.Chtimes(filepath.Join(root, checkpoint.SharedDirName, n), old, old))
	}
	p4, err := st.Begin(4)
	must(t, err)
	meta4, _ := upload(t, &u, p4, nativeSnap(t, f("d"), f("e"), m))
	time.Sleep(10 * time.Millisecond) // p5 begins strictly after p4
	p5, err := st.Begin(5)
	must(t, err)
	upload(t, &u, p5, nativeSnap(t, f("c"), f("e"), f("g"), m)) // reuses x-c.sst, writes x-g.sst
	complete(t, p4, meta4)
	// Retained: 3 (a, d) and 4 (d, e); in progress: 5 (c, e, g). x-z.sst
	// belonged to the dropped 2 only and is old; so is the orphan.
	if got := strings.Join(sharedFiles(t, root), " "); got != "x-a.sst x-c.sst x-d.sst x-e.sst x-g.sst" {
		t.Fatalf("after checkpoint 4, shared/ holds %s", got)
	}

	// Unreadable metadata of a retained checkpoint: nothing is deleted.
	must(t, os.WriteFile(filepath.Join(root, "chk-4", checkpoint.MetadataFile), []byte("{"), 0o644))
	must(t, os.Chtimes(filepath.Join(root, checkpoint.SharedDirName, "x-g.sst"), old, old))
	storeCheckpoint(t, st, 6, &u, nativeSnap(t, f("h"), m))
	if got := strings.Join(sharedFiles(t, root), " "); !strings.Contains(got, "x-g.sst") {
		t.Fatalf("with unreadable metadata, shared/ holds %s", got)
	}
}

func TestVerifyDetectsDamagedNativeFiles(t *testing.T) {
	content := strings.Repeat("state", 100)
	for _, tc := range []struct {
		name   string
		damage func(root string)
	}{
		{"flipped byte in a shared file", func(root string) {
			p := filepath.Join(root, checkpoint.SharedDirName, "x-2.sst")
			b, _ := os.ReadFile(p)
			b[10] ^= 1
			must(t, os.WriteFile(p, b, 0o644))
		}},
		{"truncated shared file", func(root string) {
			must(t, os.Truncate(filepath.Join(root, checkpoint.SharedDirName, "x-2.sst"), 3))
		}},
		{"missing shared file", func(root string) {
			must(t, os.Remove(filepath.Join(root, checkpoint.SharedDirName, "x-2.sst")))
		}},
		{"changed private file", func(root string) {
			must(t, os.WriteFile(filepath.Join(root, "chk-2", checkpoint.NativeFileName("op", 0, 0, "MANIFEST")), []byte("m?"), 0o644))
		}},
		{"metadata pointing outside shared/", func(root string) {
			p := filepath.Join(root, "chk-2", checkpoint.MetadataFile)
			var m checkpoint.Metadata
			b, _ := os.ReadFile(p)
			must(t, json.Unmarshal(b, &m))
			m.Operators[0].Subtasks[0].Native.Files[0].Shared = "../chk-1/_metadata"
			b, _ = json.Marshal(m)
			must(t, os.WriteFile(p, b, 0o644))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			st := &checkpoint.Storage{Dir: root}
			var u checkpoint.Uploader
			storeCheckpoint(t, st, 1, &u, nativeSnap(t, snapFile{"1.sst", "x-1.sst", content}, snapFile{"MANIFEST", "", "m1"}))
			storeCheckpoint(t, st, 2, &u, nativeSnap(t, snapFile{"2.sst", "x-2.sst", content}, snapFile{"MANIFEST", "", "m2"}))
			if _, err := checkpoint.Open(filepath.Join(root, "chk-2")); err != nil {
				t.Fatalf("intact checkpoint: %v", err)
			}
			tc.damage(root)
			if _, err := checkpoint.Open(filepath.Join(root, "chk-2")); !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Fatalf("Open of the damaged checkpoint: %v, want ErrCorrupt", err)
			}
			// Recovery falls back to the previous checkpoint.
			c, err := checkpoint.Find(root, nil)
			must(t, err)
			if filepath.Base(c.Dir) != "chk-1" {
				t.Fatalf("Find chose %s", c.Dir)
			}
		})
	}
}

func TestMetadataVersion(t *testing.T) {
	root := t.TempDir()
	st := &checkpoint.Storage{Dir: root}
	p, err := st.Begin(1)
	must(t, err)
	complete(t, p, nil)
	c, err := checkpoint.Open(p.Dir)
	must(t, err)
	if c.Meta.Version != 1 {
		t.Fatalf("a checkpoint without native files has version %d, want 1 (readable by older versions)", c.Meta.Version)
	}
	c.Meta.Version = checkpoint.FormatVersion + 1
	b, _ := json.Marshal(c.Meta)
	must(t, os.WriteFile(filepath.Join(p.Dir, checkpoint.MetadataFile), b, 0o644))
	if _, err := checkpoint.Open(p.Dir); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("opening a future version: %v", err)
	}
}

// FuzzOpenNativeMetadata opens checkpoints whose metadata is arbitrary: Open
// must return an error or a checkpoint, never panic, and never read a
// native file outside the checkpoint root.
func FuzzOpenNativeMetadata(f *testing.F) {
	f.Add([]byte(`{"version":2,"operators":[{"name":"op","subtasks":[{"file":"op-0-0.state","size":17,"xxhash64":"0","native":{"format":"rocksdb/1","files":[{"name":"1.sst","shared":"x-1.sst","size":1,"xxhash64":"0"}]}}]}]}`))
	f.Add([]byte(`{"version":2,"operators":[{"name":"op","subtasks":[{"native":{"files":[{"name":"../../etc/passwd","file":"../../etc/passwd"}]}}]}]}`))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, meta []byte) {
		root := t.TempDir()
		dir := filepath.Join(root, "chk-1")
		must(t, os.MkdirAll(filepath.Join(root, checkpoint.SharedDirName), 0o755))
		must(t, os.MkdirAll(dir, 0o755))
		must(t, os.WriteFile(filepath.Join(dir, checkpoint.MetadataFile), meta, 0o644))
		c, err := checkpoint.Open(dir)
		if err != nil {
			return
		}
		for _, op := range c.Meta.Operators {
			for _, st := range op.Subtasks {
				if st.Native == nil {
					continue
				}
				for _, nf := range st.Native.Files {
					inside := func(name string) bool { return name == "" || name == filepath.Base(name) && name != ".." }
					if !inside(nf.Name) || !inside(nf.Shared) || !inside(nf.File) {
						t.Fatalf("Open accepted a native file outside the checkpoint: %+v", nf)
					}
				}
			}
		}
	})
}
