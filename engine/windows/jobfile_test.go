package windows_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/freshet/freshet/engine/connectors"
	"github.com/freshet/freshet/engine/connectors/nexmark"
	"github.com/freshet/freshet/engine/eventtime"
	"github.com/freshet/freshet/engine/job"
	"github.com/freshet/freshet/engine/jobspec"
	"github.com/freshet/freshet/engine/operators"
	"github.com/freshet/freshet/engine/registry"
	"github.com/freshet/freshet/engine/stream"
	"github.com/freshet/freshet/engine/windows"
)

// TestJobFileEndToEnd runs a job file through the runtime: Nexmark bids,
// event time from the bids' dateTime field, the highest bid per auction in
// tumbling 10 s windows, written to part files; and compares with the
// maxima computed from the generator directly.
func TestJobFileEndToEnd(t *testing.T) {
	dir := t.TempDir()
	file := fmt.Sprintf(`apiVersion: freshet/v1
name: max-bid
parallelism: 2
sources:
  - name: events
    type: nexmark
    events: 20000
    events-per-second: 1000
    seed: 7
operators:
  - name: bids
    type: filter
    field: type
    op: ==
    value: bid
  - name: event-time
    type: watermarks
    strategy: bounded-out-of-orderness
    max-out-of-orderness: 1s
    timestamp-field: dateTime
    interval: 10ms
  - name: max-price
    type: window
    key-by: {field: auction}
    assigner: tumbling
    size: 10s
    aggregate: max
    field: price
    format: csv
sinks:
  - name: out
    type: file
    path: %s
`, dir)
	spec, err := jobspec.Parse("max-bid.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	r := registry.New()
	connectors.Register(r)
	operators.Register(r)
	eventtime.Register(r)
	windows.Register(r)
	env, err := job.Build(spec, stream.Config{Registry: r, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Execute(context.Background(), spec.Name); err != nil {
		t.Fatal(err)
	}
	var got []string
	parts, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if line != "" {
				got = append(got, line)
			}
		}
	}
	sort.Strings(got)

	cfg := nexmark.DefaultConfig()
	cfg.Seed, cfg.Events, cfg.EventsPerSecond = 7, 20000, 1000
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	type kw struct{ auction, start int64 }
	maxima := map[kw]int64{}
	var ev nexmark.Event
	for g.Next(&ev) {
		if ev.Kind != nexmark.KindBid {
			continue
		}
		k := kw{ev.Bid.Auction, ev.Bid.DateTime - ev.Bid.DateTime%10000}
		if old, ok := maxima[k]; !ok || ev.Bid.Price > old {
			maxima[k] = ev.Bid.Price
		}
	}
	var want []string
	for k, m := range maxima {
		want = append(want, fmt.Sprintf("%d,%d,%d,%d", k.auction, k.start, k.start+10000, m))
	}
	sort.Strings(want)
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d (first: %q)", len(got), len(want), first(got))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("result %d: %q, want %q", i, got[i], want[i])
		}
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
