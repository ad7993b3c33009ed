package nexmark

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/freshet/freshet/engine/connectors/nexmark"
	"github.com/freshet/freshet/engine/operators/jsonpath"
)

// The queries run through the engine on a small generated input and their
// final committed results (the part files of a file sink) are compared with
// a reference computed here, from the same generator, the straightforward
// way. The references also check the hand-written limits.

const testEvents = 20_000

// testConfig is a small run: heap state, a checkpoint every 100 ms.
func testConfig(t *testing.T, rate float64) Config {
	cfg := DefaultConfig()
	cfg.Events, cfg.Rate, cfg.State, cfg.CheckpointInterval = testEvents, rate, "heap", 100*time.Millisecond
	cfg.Limit = false
	cfg.Dir = t.TempDir()
	return cfg
}

// runToFiles runs q with a file sink and returns the values it committed.
func runToFiles(t *testing.T, cfg Config, q Query) []string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	cfg.Set = append(cfg.Set, "sinks.out.type=file", "sinks.out.path="+out)
	r, err := RunQuery(context.Background(), cfg, q)
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != cfg.Events {
		t.Fatalf("the sources emitted %d events, want %d", r.Events, cfg.Events)
	}
	return readParts(t, out)
}

func readParts(t *testing.T, dir string) []string {
	t.Helper()
	parts, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, p := range parts {
		if strings.HasPrefix(filepath.Base(p), ".") {
			continue // in-progress or pending files are not committed
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

// generate calls fn for every event of cfg's stream.
func generate(t *testing.T, cfg Config, fn func(ev *nexmark.Event)) {
	t.Helper()
	g, err := nexmark.NewGenerator(GeneratorConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	var ev nexmark.Event
	for g.Next(&ev) {
		fn(&ev)
	}
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	sort.Strings(got)
	sort.Strings(want)
	if slices.Equal(got, want) {
		t.Logf("%s: the %d results match", what, len(got))
		return
	}
	t.Errorf("%s: %d results, want %d", what, len(got), len(want))
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Fatalf("%s: first difference at %d:\n got  %s\n want %s", what, i, g, w)
		}
	}
}

// eachBackend runs fn with heap and with RocksDB state.
func eachBackend(t *testing.T, cfg Config, fn func(t *testing.T, cfg Config)) {
	for _, backend := range []string{"heap", "rocksdb"} {
		t.Run(backend, func(t *testing.T) {
			c := cfg
			c.State, c.Dir = backend, t.TempDir()
			fn(t, c)
		})
	}
}

// checkLimit runs q's limit over cfg's events and compares what it emits.
func checkLimit(t *testing.T, cfg Config, q Query, want []string) {
	t.Helper()
	g, err := nexmark.NewGenerator(GeneratorConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	q.limit(g, func(s string) { got = append(got, s) })
	sameLines(t, q.Name+" limit", got, want)
}

// testPlugins returns the plugins directory, building the nexmark modules
// when they are missing. Outside CI a failed build skips the test; in CI
// (CI=true) it fails it.
var (
	pluginsOnce sync.Once
	pluginsDir  string
	pluginsErr  error
)

func testPlugins(t *testing.T) string {
	t.Helper()
	pluginsOnce.Do(func() {
		dir, err := FindPlugins(".")
		if err != nil {
			// No plugins/build yet: it lives next to plugins/Makefile.
			root, rerr := filepath.Abs("../..")
			if rerr != nil {
				pluginsErr = rerr
				return
			}
			dir = filepath.Join(root, "plugins", "build")
		}
		pluginsDir = dir
		var missing bool
		for _, b := range []string{"rust", "go"} {
			if _, err := os.Stat(ModulePath(dir, b)); err != nil {
				missing = true
			}
		}
		if !missing {
			return
		}
		cmd := exec.Command("make", "-C", filepath.Dir(dir))
		if out, err := cmd.CombinedOutput(); err != nil {
			pluginsErr = fmt.Errorf("make -C plugins: %v\n%s", err, out)
		}
	})
	if pluginsErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the WebAssembly plugins are missing and could not be built: %v", pluginsErr)
		}
		t.Skipf("skipping: the WebAssembly plugins are missing and could not be built (run make -C plugins): %v", pluginsErr)
	}
	return pluginsDir
}

func bidCSV(b *nexmark.Bid, price int64) string {
	return fmt.Sprintf("%d,%d,%d,%d", b.Auction, b.Bidder, price, b.DateTime)
}

func TestQ0PassesEveryBid(t *testing.T) {
	cfg := testConfig(t, 10_000_000)
	q, _ := Lookup("q0")
	var want []string
	generate(t, cfg, func(ev *nexmark.Event) {
		if ev.Kind == nexmark.KindBid {
			b := &ev.Bid
			row := fmt.Appendf(nil, `{"auction":%d,"bidder":%d,"price":%d,"dateTime":%d,"extra":`, b.Auction, b.Bidder, b.Price, b.DateTime)
			row = jsonpath.AppendString(row, b.Extra)
			want = append(want, string(row)+"}")
		}
	})
	sameLines(t, "q0", runToFiles(t, cfg, q), want)
	checkLimit(t, cfg, q, want)
}

func TestQ1ConvertsPrices(t *testing.T) {
	var want []string
	cfg := testConfig(t, 10_000_000)
	generate(t, cfg, func(ev *nexmark.Event) {
		if ev.Kind == nexmark.KindBid {
			// 0.908 * price in exact decimal arithmetic, truncated.
			want = append(want, bidCSV(&ev.Bid, ev.Bid.Price*908/1000))
		}
	})
	for _, name := range []string{"q1", "q1-go"} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, 10_000_000)
			cfg.PluginDir = testPlugins(t)
			q, _ := Lookup(name)
			sameLines(t, name, runToFiles(t, cfg, q), want)
			checkLimit(t, cfg, q, want)
		})
	}
}

func TestQ2SelectsAuctions(t *testing.T) {
	var want []string
	cfg := testConfig(t, 10_000_000)
	generate(t, cfg, func(ev *nexmark.Event) {
		if ev.Kind == nexmark.KindBid && ev.Bid.Auction%123 == 0 {
			want = append(want, bidCSV(&ev.Bid, ev.Bid.Price))
		}
	})
	if len(want) == 0 {
		t.Fatal("the input has no bid of a selected auction: the test proves nothing")
	}
	for _, name := range []string{"q2", "q2-go"} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, 10_000_000)
			cfg.PluginDir = testPlugins(t)
			q, _ := Lookup(name)
			sameLines(t, name, runToFiles(t, cfg, q), want)
			checkLimit(t, cfg, q, want)
		})
	}
}

func TestQ3JoinsLocalSellers(t *testing.T) {
	cfg := testConfig(t, 10_000_000)
	type person struct{ name, city, state string }
	persons := map[int64]person{}
	type auction struct{ id, seller int64 }
	var auctions []auction
	generate(t, cfg, func(ev *nexmark.Event) {
		switch ev.Kind {
		case nexmark.KindPerson:
			p := &ev.Person
			persons[p.ID] = person{string(p.Name), string(p.City), string(p.State)}
		case nexmark.KindAuction:
			auctions = append(auctions, auction{ev.Auction.ID, ev.Auction.Seller})
			if ev.Auction.Category != 10 {
				auctions = auctions[:len(auctions)-1]
			}
		}
	})
	var want []string
	for _, a := range auctions {
		p, ok := persons[a.seller]
		if !ok || (p.state != "OR" && p.state != "ID" && p.state != "CA") {
			continue
		}
		want = append(want, fmt.Sprintf(`{"city":%q,"id":%d,"name":%q,"state":%q}`, p.city, a.id, p.name, p.state))
	}
	if len(want) < 10 {
		t.Fatalf("only %d joined rows: the test proves little", len(want))
	}
	q, _ := Lookup("q3")
	eachBackend(t, cfg, func(t *testing.T, cfg Config) {
		sameLines(t, "q3", runToFiles(t, cfg, q), want)
	})
	checkLimit(t, cfg, q, want)
}

// windowedRate spreads the test's events over 40 s of event time, so that
// 10 s windows fire several times.
const windowedRate = 500

func TestQ4AveragesClosingPrices(t *testing.T) {
	cfg := testConfig(t, windowedRate)
	type auction struct{ id, start, expires, category int64 }
	var auctions []auction
	type bid struct{ ts, price int64 }
	bids := map[int64][]bid{}
	generate(t, cfg, func(ev *nexmark.Event) {
		switch ev.Kind {
		case nexmark.KindAuction:
			a := &ev.Auction
			auctions = append(auctions, auction{a.ID, a.DateTime, a.Expires, a.Category})
		case nexmark.KindBid:
			bids[ev.Bid.Auction] = append(bids[ev.Bid.Auction], bid{ev.Bid.DateTime, ev.Bid.Price})
		}
	})
	sum, n := map[int64]int64{}, map[int64]int64{}
	for _, a := range auctions {
		final, ok := int64(0), false
		for _, b := range bids[a.id] {
			if b.ts >= a.start && b.ts <= a.expires && (!ok || b.price > final) {
				final, ok = b.price, true
			}
		}
		if ok {
			sum[a.category] += final
			n[a.category]++
		}
	}
	var want []string
	for c := range sum {
		want = append(want, fmt.Sprintf("%d,%s", c, jsonpath.AppendFloat(nil, float64(sum[c])/float64(n[c]))))
	}
	if len(want) < 3 {
		t.Fatalf("only %d categories with closed auctions", len(want))
	}
	q, _ := Lookup("q4")
	eachBackend(t, cfg, func(t *testing.T, cfg Config) {
		// avg emits the running average per category; the committed result
		// of a category is its last line (one subtask owns a category and
		// writes its results in order).
		last := map[string]string{}
		for _, l := range runToFiles(t, cfg, q) {
			c, _, _ := strings.Cut(l, ",")
			last[c] = l
		}
		var got []string
		for _, l := range last {
			got = append(got, l)
		}
		sameLines(t, "q4", got, want)
	})
	checkLimit(t, cfg, q, want)
}

func TestQ5FindsTheHotItems(t *testing.T) {
	cfg := testConfig(t, windowedRate)
	counts := map[int64]map[int64]int64{} // window start -> auction -> bids
	generate(t, cfg, func(ev *nexmark.Event) {
		if ev.Kind != nexmark.KindBid {
			return
		}
		// Every 10 s window, starting on a 2 s boundary, that holds the bid.
		last := ev.Bid.DateTime - floorMod(ev.Bid.DateTime, 2000)
		for s := last; s > ev.Bid.DateTime-10_000; s -= 2000 {
			if counts[s] == nil {
				counts[s] = map[int64]int64{}
			}
			counts[s][ev.Bid.Auction]++
		}
	})
	var want []string
	for s, byAuction := range counts {
		best := int64(0)
		for _, c := range byAuction {
			best = max(best, c)
		}
		for a, c := range byAuction {
			if c == best {
				want = append(want, fmt.Sprintf(`{"key":"%d","start":%d,"end":%d,"sum":%d}`, a, s, s+10_000, c))
			}
		}
	}
	q, _ := Lookup("q5")
	eachBackend(t, cfg, func(t *testing.T, cfg Config) {
		sameLines(t, "q5", runToFiles(t, cfg, q), want)
	})
	checkLimit(t, cfg, q, want)
}

func TestQ7FindsTheHighestBids(t *testing.T) {
	cfg := testConfig(t, windowedRate)
	type top struct {
		price int64
		rows  []string
	}
	windows := map[int64]*top{}
	generate(t, cfg, func(ev *nexmark.Event) {
		if ev.Kind != nexmark.KindBid {
			return
		}
		b := &ev.Bid
		w := windows[b.DateTime/10_000]
		if w == nil {
			w = &top{price: -1}
			windows[b.DateTime/10_000] = w
		}
		row := fmt.Appendf(nil, `{"auction":%d,"bidder":%d,"price":%d,"dateTime":%d,"extra":`, b.Auction, b.Bidder, b.Price, b.DateTime)
		row = append(jsonpath.AppendString(row, b.Extra), '}')
		switch {
		case b.Price > w.price:
			w.price, w.rows = b.Price, []string{string(row)}
		case b.Price == w.price:
			w.rows = append(w.rows, string(row))
		}
	})
	var want []string
	for _, w := range windows {
		want = append(want, w.rows...)
	}
	if len(windows) < 3 {
		t.Fatalf("only %d windows", len(windows))
	}
	q, _ := Lookup("q7")
	eachBackend(t, cfg, func(t *testing.T, cfg Config) {
		sameLines(t, "q7", runToFiles(t, cfg, q), want)
	})
	checkLimit(t, cfg, q, want)
}

func TestQ8FindsNewUsers(t *testing.T) {
	cfg := testConfig(t, windowedRate)
	type pw struct{ id, window int64 }
	names := map[pw]string{}
	sold := map[pw]bool{}
	generate(t, cfg, func(ev *nexmark.Event) {
		switch ev.Kind {
		case nexmark.KindPerson:
			names[pw{ev.Person.ID, ev.Person.DateTime / 10_000 * 10_000}] = string(ev.Person.Name)
		case nexmark.KindAuction:
			sold[pw{ev.Auction.Seller, ev.Auction.DateTime / 10_000 * 10_000}] = true
		}
	})
	var want []string
	for k, name := range names {
		if sold[k] {
			want = append(want, fmt.Sprintf(`{"id":%d,"name":%q,"starttime":%d}`, k.id, name, k.window))
		}
	}
	if len(want) < 5 {
		t.Fatalf("only %d new users", len(want))
	}
	q, _ := Lookup("q8")
	eachBackend(t, cfg, func(t *testing.T, cfg Config) {
		sameLines(t, "q8", runToFiles(t, cfg, q), want)
	})
	checkLimit(t, cfg, q, want)
}

func TestQ11CountsSessions(t *testing.T) {
	cfg := testConfig(t, windowedRate)
	times := map[int64][]int64{}
	generate(t, cfg, func(ev *nexmark.Event) {
		if ev.Kind == nexmark.KindBid {
			times[ev.Bid.Bidder] = append(times[ev.Bid.Bidder], ev.Bid.DateTime)
		}
	})
	var want []string
	for bidder, ts := range times {
		slices.Sort(ts)
		start, n := ts[0], int64(1)
		for i := 1; i <= len(ts); i++ {
			if i < len(ts) && ts[i]-ts[i-1] < 10_000 {
				n++
				continue
			}
			want = append(want, fmt.Sprintf(`{"key":"%d","start":%d,"end":%d,"count":%d}`, bidder, start, ts[i-1]+10_000, n))
			if i < len(ts) {
				start, n = ts[i], 1
			}
		}
	}
	q, _ := Lookup("q11")
	eachBackend(t, cfg, func(t *testing.T, cfg Config) {
		sameLines(t, "q11", runToFiles(t, cfg, q), want)
	})
	checkLimit(t, cfg, q, want)
}

// TestQ12CountsPerProcessingTimeWindow checks what holds whatever the
// timing: processing-time windows of 200 ms (the query's 10 s, shortened)
// over a source paced to last about 1.5 s, so that several windows fire
// while it runs. Every bid is counted exactly once: each window of a
// bidder fires once (its timer fires only after its last millisecond), and
// the windows still open when the input ends fire then, so the counts of
// each bidder add up to the bids it made.
func TestQ12CountsPerProcessingTimeWindow(t *testing.T) {
	cfg := testConfig(t, 10_000_000)
	cfg.Events = 15_000
	cfg.Set = []string{"operators.q12.size=200ms", "sources.events.rows-per-second=10000"}
	total := map[string]int64{}
	generate(t, cfg, func(ev *nexmark.Event) {
		if ev.Kind == nexmark.KindBid {
			total[strconv.FormatInt(ev.Bid.Bidder, 10)]++
		}
	})
	q, _ := Lookup("q12")
	start := time.Now().UnixMilli()
	lines := runToFiles(t, cfg, q)
	end := time.Now().UnixMilli()
	counted := map[string]int64{}
	firings := map[string]int{}
	windows := map[int64]bool{}
	var sum int64
	for _, l := range lines {
		var key string
		var s, e, n int64
		if _, err := fmt.Sscanf(l, `{"key":%q,"start":%d,"end":%d,"count":%d}`, &key, &s, &e, &n); err != nil {
			t.Fatalf("result %q: %v", l, err)
		}
		switch {
		case e-s != 200 || s%200 != 0:
			t.Fatalf("window [%d, %d) is not an aligned 200 ms window", s, e)
		case s < start-200 || e > end+200:
			t.Fatalf("window [%d, %d) lies outside the run [%d, %d]", s, e, start, end)
		case n < 1:
			t.Fatalf("result %q counts nothing", l)
		}
		w := fmt.Sprintf("%s@%d", key, s)
		if firings[w]++; firings[w] == 2 {
			t.Errorf("bidder %s: window [%d, %d) fired more than once", key, s, e)
		}
		windows[s] = true
		counted[key] += n
		sum += n
	}
	for key, n := range total {
		if counted[key] != n {
			t.Errorf("bidder %s: %d bids counted, %d made", key, counted[key], n)
		}
	}
	for key := range counted {
		if _, ok := total[key]; !ok {
			t.Errorf("bidder %s: counted, but it made no bids", key)
		}
	}
	if len(windows) < 2 {
		t.Fatalf("%d windows fired counting %d bids: the run was too short to test anything", len(windows), sum)
	}
	t.Logf("%d windows fired, %d results counting %d bids", len(windows), len(lines), sum)
}

// TestQueriesValidate parses every job file as written and builds it with
// the suite's registry, so a mistake in a file fails here and not in a
// benchmark run.
func TestQueriesValidate(t *testing.T) {
	for _, q := range Queries() {
		t.Run(q.Name, func(t *testing.T) {
			spec, err := q.Spec()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := q.JobFile()
			if !bytes.Contains(b, []byte("Nexmark "+strings.TrimSuffix(q.Name, "-go")+":")) {
				t.Errorf("%s does not start by naming the query", q.File)
			}
			if spec.Name != "nexmark-"+strings.TrimSuffix(q.Name, "-go") {
				t.Errorf("job name %q", spec.Name)
			}
		})
	}
}
