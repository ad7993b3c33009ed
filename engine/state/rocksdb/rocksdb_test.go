package rocksdb_test

import (
	"testing"

	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/rocksdb"
	"github.com/freshet/freshet/engine/state/statetest"
)

// testConfig keeps tests small: little memory, no compression dependency.
func testConfig() rocksdb.Config {
	cfg := rocksdb.Defaults()
	cfg.WriteBufferSize = 8 << 20
	cfg.BlockCacheSize = 8 << 20
	return cfg
}

func newResources(t testing.TB) *rocksdb.SharedResources {
	t.Helper()
	res, err := rocksdb.NewSharedResources(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := res.Close(); err != nil {
			t.Errorf("closing shared resources: %v", err)
		}
	})
	return res
}

func TestConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T, opts state.Options) state.Backend {
		b, err := rocksdb.New(opts, newResources(t))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
