package rocksdb_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/keygroup"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/rocksdb"
)

// A TaskManager creates SharedResources once; each subtask opens a backend
// in its own directory, takes checkpoints, and is restored from them.
func ExampleOpenCheckpoint() {
	tmp, _ := os.MkdirTemp("", "freshet-example-")
	defer os.RemoveAll(tmp)

	res, err := rocksdb.NewSharedResources(rocksdb.Defaults())
	if err != nil {
		panic(err)
	}
	defer res.Close()
	opts := state.Options{
		Operator:       "sessions",
		MaxParallelism: 128,
		KeyGroups:      keygroup.RangeOf(0, 1, 128),
		Dir:            filepath.Join(tmp, "subtask-0"),
	}
	b, err := rocksdb.New(opts, res)
	if err != nil {
		panic(err)
	}
	last, _ := b.Value(api.StateDescriptor{Name: "last-page"})
	b.SetCurrentKey([]byte("ada"))
	_ = last.Put([]byte("/checkout"))
	if err := b.Checkpoint(filepath.Join(tmp, "chk-1")); err != nil {
		panic(err)
	}
	b.Close()

	opts.Dir = filepath.Join(tmp, "subtask-0-restored")
	r, err := rocksdb.OpenCheckpoint(opts, res, filepath.Join(tmp, "chk-1"))
	if err != nil {
		panic(err)
	}
	defer r.Close()
	last, _ = r.Value(api.StateDescriptor{Name: "last-page"})
	r.SetCurrentKey([]byte("ada"))
	v, ok, _ := last.Get()
	fmt.Println(string(v), ok)
	// Output: /checkout true
}
