package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// newManager returns a manager of total segments of 4 KiB, arenas of arena
// segments, closed (and checked for leaks) when the test ends.
func newManager(t *testing.T, total, arena int) *Manager {
	t.Helper()
	const seg = 4 << 10
	m, err := NewManager(Config{TotalBytes: int64(total * seg), SegmentSize: seg, ArenaBytes: int64(arena * seg)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close at end of test: %v", err)
		}
	})
	return m
}

func mustPool(t *testing.T, m *Manager, name string, max int) *Pool {
	t.Helper()
	p, err := m.CreatePool(name, max)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.TotalBytes != 64<<20 || c.SegmentSize != 32<<10 || c.ArenaBytes != 8<<20 {
		t.Fatalf("defaults = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c := (Config{SegmentSize: 4096}).WithDefaults(); c.SegmentSize != 4096 {
		t.Fatalf("WithDefaults overwrote SegmentSize: %d", c.SegmentSize)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{"valid", Config{TotalBytes: 1 << 20, SegmentSize: 4096, ArenaBytes: 64 << 10}, nil},
		{"budget not a multiple of segment", Config{TotalBytes: 10000, SegmentSize: 4096, ArenaBytes: 8192}, nil},
		{"zero segment", Config{TotalBytes: 1 << 20, ArenaBytes: 1 << 20}, []string{"SegmentSize"}},
		{"tiny segment", Config{TotalBytes: 1 << 20, SegmentSize: 16, ArenaBytes: 1 << 20}, []string{"SegmentSize", "at least 64"}},
		{"negative total", Config{TotalBytes: -1, SegmentSize: 4096, ArenaBytes: 1 << 20}, []string{"TotalBytes", "positive"}},
		{"total below one segment", Config{TotalBytes: 100, SegmentSize: 4096, ArenaBytes: 4096}, []string{"TotalBytes", "less than one segment"}},
		{"arena not a multiple", Config{TotalBytes: 1 << 20, SegmentSize: 4096, ArenaBytes: 5000}, []string{"ArenaBytes", "multiple of SegmentSize"}},
		{"several at once", Config{TotalBytes: -5, SegmentSize: 4096, ArenaBytes: -1}, []string{"TotalBytes", "ArenaBytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", tt.cfg)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tt.cfg.WithDefaults().Validate() == nil {
				return // NewManager fills the zero field in
			}
			if _, err := NewManager(tt.cfg); err == nil {
				t.Errorf("NewManager accepted %+v", tt.cfg)
			}
		})
	}
}

func TestCreatePoolBudget(t *testing.T) {
	m := newManager(t, 32, 8)
	a := mustPool(t, m, "gate a", 20)
	mustPool(t, m, "gate b", 12)

	_, err := m.CreatePool("partition c", 3)
	if !errors.Is(err, ErrBudgetExceeded) {
		t.Fatalf("CreatePool over budget: err = %v, want ErrBudgetExceeded", err)
	}
	for _, w := range []string{`"partition c"`, "needs 3 segments (12 KiB)", "only 0 segments (0 B)", "128 KiB budget"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if got := m.Stats().Reserved; got != 32*4096 {
		t.Errorf("Reserved = %d, want %d", got, 32*4096)
	}

	a.Destroy()
	if got := m.Stats().Reserved; got != 12*4096 {
		t.Errorf("Reserved after Destroy = %d, want %d", got, 12*4096)
	}
	mustPool(t, m, "partition c", 20)
	if _, err := m.CreatePool("d", 1); !errors.Is(err, ErrBudgetExceeded) {
		t.Errorf("budget full again: err = %v", err)
	}
}

func TestCreatePoolErrors(t *testing.T) {
	m := newManager(t, 8, 8)
	mustPool(t, m, "a", 1)
	if _, err := m.CreatePool("a", 1); !errors.Is(err, ErrPoolExists) {
		t.Errorf("duplicate name: err = %v, want ErrPoolExists", err)
	}
	if _, err := m.CreatePool("", 1); err == nil {
		t.Error("empty name accepted")
	}
	if _, err := m.CreatePool("b", 0); err == nil || !strings.Contains(err.Error(), "maxSegments") {
		t.Errorf("zero maxSegments: err = %v", err)
	}
}

func TestLazyMappingAndReuse(t *testing.T) {
	m := newManager(t, 10, 4) // arenas of 4, 4 and 2 segments
	p := mustPool(t, m, "p", 10)
	if got := m.Stats().Mapped; got != 0 {
		t.Fatalf("Mapped before any request = %d, want 0", got)
	}
	s := p.TryRequest()
	if got := m.Stats().Mapped; got != 4*4096 {
		t.Fatalf("Mapped after one request = %d, want one arena", got)
	}
	first := &s.Bytes()[0]
	s.Release()
	s = p.TryRequest()
	if &s.Bytes()[0] != first {
		t.Error("a released segment was not reused")
	}
	segs := []*Segment{s}
	for range 9 {
		segs = append(segs, p.TryRequest())
	}
	st := m.Stats()
	if st.Mapped != st.Total {
		t.Errorf("Mapped with all out = %d, want the budget %d", st.Mapped, st.Total)
	}
	// Segments are distinct, of the right size, and writable.
	seen := map[*byte]bool{}
	for i, s := range segs {
		b := s.Bytes()
		if len(b) != 4096 || cap(b) != 4096 {
			t.Fatalf("segment %d: len %d cap %d", i, len(b), cap(b))
		}
		if seen[&b[0]] {
			t.Fatalf("segment %d handed out twice", i)
		}
		seen[&b[0]] = true
		for j := range b {
			b[j] = byte(i)
		}
	}
	for i, s := range segs {
		if !bytes.Equal(s.Bytes(), bytes.Repeat([]byte{byte(i)}, 4096)) {
			t.Fatalf("segment %d overlaps another", i)
		}
		s.Release()
	}
	if p.TryRequest() == nil {
		t.Fatal("no segment after releasing all")
	} else if m.Stats().Mapped != st.Total {
		t.Error("reuse mapped more memory")
	}
	p.Destroy() // the one still out is released below
	for _, s := range segs {
		if s.out.Load() {
			s.Release()
		}
	}
}

// TestSegmentsOffHeap checks that segment memory is not Go heap: mapping 8 MiB
// of segments barely moves the heap.
func TestSegmentsOffHeap(t *testing.T) {
	if !offHeap {
		t.Skip("no mmap on this platform")
	}
	m, err := NewManager(Config{TotalBytes: 8 << 20, SegmentSize: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPool(t, m, "p", 256)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var segs []*Segment
	for range 256 {
		s := p.TryRequest()
		clear(s.Bytes())
		segs = append(segs, s)
	}
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 1<<20 {
		t.Errorf("heap grew by %d bytes for 8 MiB of segments", grown)
	}
	for _, s := range segs {
		s.Release()
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBudgetNotMultipleOfArena(t *testing.T) {
	m := newManager(t, 5, 2) // arenas of 2, 2, 1
	p := mustPool(t, m, "p", 5)
	var segs []*Segment
	for range 5 {
		segs = append(segs, p.TryRequest())
	}
	if p.TryRequest() != nil {
		t.Error("pool handed out more than its max")
	}
	if st := m.Stats(); st.Mapped != 5*4096 {
		t.Errorf("Mapped = %d, want exactly the budget", st.Mapped)
	}
	for _, s := range segs {
		s.Release()
	}
}

func TestRequestWaitsForRelease(t *testing.T) {
	m := newManager(t, 4, 4)
	p := mustPool(t, m, "p", 1)
	held := p.TryRequest()
	if p.TryRequest() != nil {
		t.Fatal("pool of 1 handed out 2")
	}
	got := make(chan *Segment)
	go func() {
		s, err := p.Request(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- s
	}()
	select {
	case <-got:
		t.Fatal("Request returned while the only segment was out")
	case <-time.After(20 * time.Millisecond):
	}
	held.Release()
	select {
	case s := <-got:
		if s != held {
			t.Error("woken Request did not get the released segment")
		}
		s.Release()
	case <-time.After(5 * time.Second):
		t.Fatal("Release did not wake Request")
	}
}

func TestRequestContext(t *testing.T) {
	m := newManager(t, 4, 4)
	p := mustPool(t, m, "gate", 1)
	held := p.TryRequest()
	defer held.Release()

	cause := errors.New("task cancelled")
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan error)
	go func() {
		_, err := p.Request(ctx)
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	cancel(cause)
	select {
	case err := <-done:
		if !errors.Is(err, cause) || !strings.Contains(err.Error(), `"gate"`) {
			t.Errorf("err = %v, want the cause, naming the pool", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancellation did not end Request")
	}

	ctx, cancel2 := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel2()
	if _, err := p.Request(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: err = %v", err)
	}
	// A free segment is returned even to a done context.
	held.Release()
	done2, cancel3 := context.WithCancel(context.Background())
	cancel3()
	s, err := p.Request(done2)
	if err != nil {
		t.Fatalf("free segment with a done context: %v", err)
	}
	held = s
}

func TestAvailable(t *testing.T) {
	m := newManager(t, 4, 4)
	p := mustPool(t, m, "p", 2)
	isClosed := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	if !isClosed(p.Available()) {
		t.Error("Available not ready on a fresh pool")
	}
	a, b := p.TryRequest(), p.TryRequest()
	ch := p.Available()
	if isClosed(ch) {
		t.Fatal("Available ready with every segment out")
	}
	if ch2 := p.Available(); ch2 != ch {
		t.Error("waiters of the same Release got different channels")
	}
	a.Release()
	if !isClosed(ch) {
		t.Fatal("Release did not fire Available")
	}
	if !isClosed(p.Available()) {
		t.Error("Available not ready with a free segment")
	}
	b.Release()
	p.Destroy()
	if !isClosed(p.Available()) {
		t.Error("Available not ready on a destroyed pool")
	}
}

func TestDestroy(t *testing.T) {
	m := newManager(t, 8, 8)
	p := mustPool(t, m, "old", 4)
	out := []*Segment{p.TryRequest(), p.TryRequest(), p.TryRequest(), p.TryRequest()}

	waiter := make(chan error)
	go func() {
		_, err := p.Request(context.Background())
		waiter <- err
	}()
	time.Sleep(10 * time.Millisecond) // let the waiter block
	p.Destroy()
	p.Destroy() // idempotent
	select {
	case err := <-waiter:
		if !errors.Is(err, ErrPoolDestroyed) || !strings.Contains(err.Error(), `"old"`) {
			t.Fatalf("waiter: err = %v, want ErrPoolDestroyed naming the pool", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Destroy did not wake a waiting Request")
	}
	out[3].Release() // returns its share of the reservation at once
	if _, err := p.Request(context.Background()); !errors.Is(err, ErrPoolDestroyed) {
		t.Errorf("Request after Destroy: %v", err)
	}
	if p.TryRequest() != nil {
		t.Error("TryRequest after Destroy returned a segment")
	}

	st := m.Stats()
	if st.Reserved != 3*4096 {
		t.Errorf("Reserved = %d, want the 3 segments still out", st.Reserved)
	}
	if len(st.Pools) != 1 || !st.Pools[0].Destroyed || st.Pools[0].InUse != 3 {
		t.Errorf("Pools = %+v, want the destroyed pool with 3 in use", st.Pools)
	}
	// The budget freed by Destroy is usable, and so is the memory.
	q := mustPool(t, m, "new", 5)
	if _, err := m.CreatePool("too much", 1); !errors.Is(err, ErrBudgetExceeded) {
		t.Errorf("segments still out must keep their reservation: %v", err)
	}
	for _, s := range out[:3] {
		s.Release()
	}
	st = m.Stats()
	if st.Reserved != 5*4096 || len(st.Pools) != 1 || st.Pools[0].Name != "new" {
		t.Errorf("after releasing: Reserved %d, Pools %+v", st.Reserved, st.Pools)
	}
	// The new pool reuses the old pool's segments instead of mapping more.
	var segs []*Segment
	for range 5 {
		segs = append(segs, q.TryRequest())
	}
	if st := m.Stats(); st.Mapped != 8*4096 {
		t.Errorf("Mapped = %d, want one arena", st.Mapped)
	}
	for _, s := range segs {
		s.Release()
	}
}

// logCapture collects slog records.
type logCapture struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
	l.msgs = append(l.msgs, msg)
	return nil
}
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCapture) WithGroup(string) slog.Handler      { return l }

func TestDoubleRelease(t *testing.T) {
	logs := &logCapture{}
	m, err := NewManager(Config{TotalBytes: 4 * 4096, SegmentSize: 4096, ArenaBytes: 4 * 4096, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPool(t, m, "gate", 2)
	s := p.TryRequest()
	s.Release()
	s.Release()
	st := m.Stats()
	if st.DoubleReleases != 1 || st.Pools[0].InUse != 0 || st.Used != 0 {
		t.Errorf("after double release: %+v", st)
	}
	if len(logs.msgs) != 1 || !strings.Contains(logs.msgs[0], "pool=gate") {
		t.Errorf("logs = %q, want one naming the pool", logs.msgs)
	}
	// The free list holds the segment once: two requests get distinct segments.
	a, b := p.TryRequest(), p.TryRequest()
	if a == nil || b == nil || a == b {
		t.Fatalf("after double release got %p and %p", a, b)
	}
	if p.TryRequest() != nil {
		t.Error("pool of 2 handed out a third segment")
	}
	a.Release()
	b.Release()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStats(t *testing.T) {
	m := newManager(t, 16, 8)
	a := mustPool(t, m, "a", 6)
	b := mustPool(t, m, "b", 4)
	var as, bs []*Segment
	for range 5 {
		as = append(as, a.TryRequest())
	}
	for range 2 {
		bs = append(bs, b.TryRequest())
	}
	as[0].Release()
	as[1].Release()
	st := m.Stats()
	want := Stats{
		Total: 16 * 4096, Reserved: 10 * 4096, Mapped: 8 * 4096, Used: 5 * 4096, Peak: 7 * 4096, SegmentSize: 4096,
		Pools: []PoolStats{{Name: "a", Max: 6, InUse: 3, Peak: 5}, {Name: "b", Max: 4, InUse: 2, Peak: 2}},
	}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("Stats =\n%+v\nwant\n%+v", st, want)
	}
	for _, s := range append(as[2:], bs...) {
		s.Release()
	}
	if st := m.Stats(); st.Used != 0 || st.Peak != 7*4096 {
		t.Errorf("after release: Used %d Peak %d", st.Used, st.Peak)
	}
}

func TestCloseDetectsLeaks(t *testing.T) {
	m, err := NewManager(Config{TotalBytes: 8 * 4096, SegmentSize: 4096, ArenaBytes: 8 * 4096})
	if err != nil {
		t.Fatal(err)
	}
	a := mustPool(t, m, "input gate map (1/2)", 4)
	b := mustPool(t, m, "partition src", 2)
	c := mustPool(t, m, "idle", 2)
	leaked := []*Segment{a.TryRequest(), a.TryRequest(), b.TryRequest()}
	c.TryRequest().Release() // free in its pool: not a leak

	err = m.Close()
	if !errors.Is(err, ErrLeak) {
		t.Fatalf("Close with segments out: err = %v, want ErrLeak", err)
	}
	for _, w := range []string{"3 segments", `pool "input gate map (1/2)" holds 2`, `pool "partition src" holds 1`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "idle") {
		t.Errorf("error %q names a pool without leaks", err)
	}
	// The leaked memory stays usable; the pools are closed.
	leaked[0].Bytes()[0] = 1
	if _, err := a.Request(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Request after Close: %v", err)
	}
	if _, err := m.CreatePool("late", 1); !errors.Is(err, ErrClosed) {
		t.Errorf("CreatePool after Close: %v", err)
	}
	for _, s := range leaked {
		s.Release()
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close after releasing: %v", err)
	}
	if st := m.Stats(); st.Mapped != 0 || st.Used != 0 {
		t.Errorf("after Close: %+v", st)
	}
	if err := m.Close(); err != nil {
		t.Errorf("third Close: %v", err)
	}
}

// TestConcurrentStress runs pools under churn from many goroutines: each
// holder stamps its segments and checks the stamp before releasing, which
// catches any segment handed to two holders at once.
func TestConcurrentStress(t *testing.T) {
	m := newManager(t, 64, 8)
	const workers = 8
	iters := 2000
	if testing.Short() {
		iters = 200
	}
	pools := make([]*Pool, 4)
	for i := range pools {
		pools[i] = mustPool(t, m, fmt.Sprintf("p%d", i), 8)
	}
	var wg sync.WaitGroup
	var statsStop = make(chan struct{})
	var statsWG sync.WaitGroup
	statsWG.Add(1)
	go func() { // concurrent Stats readers
		defer statsWG.Done()
		for {
			select {
			case <-statsStop:
				return
			default:
			}
			st := m.Stats()
			if st.Used > st.Total || st.Mapped > st.Total || st.Reserved > st.Total {
				t.Errorf("stats over budget: %+v", st)
				return
			}
			runtime.Gosched()
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := pools[w%len(pools)]
			var held []*Segment
			stamp := func(s *Segment, k int) {
				b := s.Bytes()
				*(*uint64)(unsafe.Pointer(&b[0])) = uint64(w<<32 | k)
				b[len(b)-1] = byte(w)
			}
			check := func(s *Segment, k int) {
				b := s.Bytes()
				if got := *(*uint64)(unsafe.Pointer(&b[0])); got != uint64(w<<32|k) || b[len(b)-1] != byte(w) {
					t.Errorf("worker %d: segment stamp overwritten (%x)", w, got)
				}
			}
			for k := range iters {
				switch {
				case len(held) < 3 && k%3 != 2:
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					s, err := p.Request(ctx)
					cancel()
					if err != nil {
						t.Errorf("worker %d: %v", w, err)
						return
					}
					stamp(s, k)
					held = append(held, s)
				case len(held) > 0:
					s := held[0]
					check(s, k)
					stamp(s, k)
					held = held[1:]
					s.Release()
				default:
					if s := p.TryRequest(); s != nil {
						stamp(s, k)
						check(s, k)
						s.Release()
					}
				}
				if len(held) > 0 { // restamp so check sees the latest k
					for _, s := range held {
						stamp(s, k+1)
					}
					for _, s := range held {
						check(s, k+1)
					}
				}
			}
			for _, s := range held {
				s.Release()
			}
		}()
	}
	// Pool churn beside the workers: create, use, destroy with segments out.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range iters / 10 {
			p, err := m.CreatePool(fmt.Sprintf("churn%d", i), 16)
			if err != nil {
				t.Error(err)
				return
			}
			s1, s2 := p.TryRequest(), p.TryRequest()
			if s1 == nil || s2 == nil {
				t.Error("churn pool got no segment")
				return
			}
			s1.Release()
			p.Destroy()
			s2.Release()
		}
	}()
	wg.Wait()
	close(statsStop)
	statsWG.Wait()
	st := m.Stats()
	if st.Used != 0 || st.Reserved != 32*4096 || st.DoubleReleases != 0 || len(st.Pools) != 4 {
		t.Errorf("after stress: %+v", st)
	}
}
