package windows_test

import (
	"fmt"
	"iter"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/rocksdb"
	"github.com/freshet/freshet/engine/windows"
	"github.com/freshet/freshet/engine/windows/windowstest"
)

// Windows that keep every element hold few inline in a value and spill to
// a list when they grow (by count or by bytes); either way the function
// sees every element once, in order, and sessions merge across both forms.
// With Distinct, equal elements are kept once in either form.
func TestWindowContentsInlineAndSpilled(t *testing.T) {
	concat := func(key []byte, w windows.Window, elems iter.Seq[[]byte], out api.Output) error {
		var parts []string
		for e := range elems {
			parts = append(parts, string(e))
		}
		out.Emit(&api.Record{Key: key, Value: []byte(strings.Join(parts, ",")), Timestamp: w.MaxTimestamp()})
		return nil
	}
	type backend struct {
		name string
		new  func(t *testing.T) func(state.Options) (state.Backend, error)
	}
	backends := []backend{
		{"heap", func(*testing.T) func(state.Options) (state.Backend, error) { return nil }},
		{"rocksdb", func(t *testing.T) func(state.Options) (state.Backend, error) {
			cfg := rocksdb.Defaults()
			cfg.StateCacheSize = 64 << 10 // evicts: contents values go through RocksDB too
			res, err := rocksdb.NewSharedResources(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { res.Close() })
			dir := t.TempDir()
			return func(o state.Options) (state.Backend, error) {
				o.Dir = filepath.Join(dir, "db")
				return rocksdb.New(o, res)
			}
		}},
	}
	tests := []struct {
		name     string
		assigner windows.Assigner
		values   []string // one record each, at ts 1, 2, 3, ...
		distinct bool     // Config.Distinct
		want     []string // default values
	}{
		{"few", windows.Tumbling(time.Hour), []string{"a", "b", "c"}, false, nil},
		{"many", windows.Tumbling(time.Hour), seq("e", 100), false, nil},
		{"large", windows.Tumbling(time.Hour), []string{"x", strings.Repeat("y", 3000), "z"}, false, nil},
		{"session of many", windows.Session(time.Hour), seq("s", 70), false, nil},
		{"distinct few", windows.Tumbling(time.Hour), []string{"a", "b", "a", "c", "b"}, true, []string{"a", "b", "c"}},
		{"distinct many", windows.Tumbling(time.Hour), append(append(seq("e", 100), seq("e", 100)...), "e5", "e99"), true, seq("e", 100)},
		{"distinct session", windows.Session(time.Hour), append(seq("s", 70), seq("s", 70)...), true, seq("s", 70)},
	}
	for _, be := range backends {
		for _, tt := range tests {
			t.Run(be.name+"/"+tt.name, func(t *testing.T) {
				op, err := windows.NewOperator(windows.Config{Assigner: tt.assigner, Process: concat, Distinct: tt.distinct})
				if err != nil {
					t.Fatal(err)
				}
				h, err := windowstest.New(op, windowstest.Options{Keyed: true, State: be.new(t)})
				if err != nil {
					t.Fatal(err)
				}
				defer h.Close()
				for i, v := range tt.values {
					if err := h.Process(api.Record{Key: []byte("k"), Value: []byte(v), Timestamp: int64(i + 1)}); err != nil {
						t.Fatal(err)
					}
				}
				if err := h.Watermark(api.MaxWatermark); err != nil {
					t.Fatal(err)
				}
				want := tt.want
				if want == nil {
					want = tt.values
				}
				recs := h.Records()
				if len(recs) != 1 || string(recs[0].Value) != strings.Join(want, ",") {
					var got []string
					for _, r := range recs {
						got = append(got, fmt.Sprintf("%.60q", r.Value))
					}
					t.Fatalf("fired %v, want one window with the %d elements in order", got, len(want))
				}
			})
		}
	}
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(prefix, i)
	}
	return out
}
