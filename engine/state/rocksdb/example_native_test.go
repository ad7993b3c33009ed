package rocksdb_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/heap"
	"github.com/freshet/freshet/engine/state/rocksdb"
)

// A native snapshot lists the backend's files: immutable SSTs under names
// shared between snapshots, and the private rest. It opens natively into a
// RocksDB backend, and reads as canonical entries into any other.
func ExampleBackend_NativeSnapshot() {
	tmp, _ := os.MkdirTemp("", "freshet-example-")
	defer os.RemoveAll(tmp)
	res, err := rocksdb.NewSharedResources(rocksdb.Defaults())
	if err != nil {
		panic(err)
	}
	defer res.Close()
	opts := state.Options{Operator: "sessions", MaxParallelism: 128, KeyGroups: keygroup.RangeOf(0, 1, 128), Dir: filepath.Join(tmp, "db")}
	b, err := rocksdb.New(opts, res)
	if err != nil {
		panic(err)
	}
	defer b.Close()
	last, _ := b.Value(api.StateDescriptor{Name: "last-page"})
	b.SetCurrentKey([]byte("ada"))
	_ = last.Put([]byte("/checkout"))

	snap, err := b.NativeSnapshot(1, filepath.Join(tmp, "native-1"))
	if err != nil {
		panic(err)
	}
	shared := 0
	for _, f := range snap.Files {
		if f.Shared != "" && strings.HasSuffix(f.Shared, "-"+f.Name) {
			shared++
		}
	}
	fmt.Println(snap.Format, shared > 0)

	// Natively, into a new RocksDB backend...
	opts.Dir = filepath.Join(tmp, "restored")
	r, err := rocksdb.OpenNative(opts, res, []state.NativeSnapshot{*snap})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	last, _ = r.Value(api.StateDescriptor{Name: "last-page"})
	r.SetCurrentKey([]byte("ada"))
	v, _, _ := last.Get()
	fmt.Println(string(v))

	// ...or entry by entry into the heap backend.
	opts.Dir = ""
	h, _ := heap.New(opts)
	defer h.Close()
	if err := state.ReadNative(*snap, opts, h.Restore); err != nil {
		panic(err)
	}
	last, _ = h.Value(api.StateDescriptor{Name: "last-page"})
	h.SetCurrentKey([]byte("ada"))
	v, _, _ = last.Get()
	fmt.Println(string(v))
	// Output:
	// rocksdb/1 true
	// /checkout
	// /checkout
}
