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

// The conformance suite runs with the default state cache, without one,
// and with the smallest one, which evicts (and writes back) all the time.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cache int64
	}{{"cache", testConfig().StateCacheSize}, {"no-cache", 0}, {"tiny-cache", 64 << 10}} {
		t.Run(tc.name, func(t *testing.T) {
			statetest.Run(t, func(t *testing.T, opts state.Options) state.Backend {
				cfg := testConfig()
				cfg.StateCacheSize = tc.cache
				res, err := rocksdb.NewSharedResources(cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { res.Close() })
				b, err := rocksdb.New(opts, res)
				if err != nil {
					t.Fatal(err)
				}
				return b
			})
		})
	}
}
