package memory

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Error categories, checkable with errors.Is.
var (
	// ErrBudgetExceeded: the budget cannot cover a new pool.
	ErrBudgetExceeded = errors.New("memory budget exceeded")
	// ErrClosed: the manager is closed.
	ErrClosed = errors.New("memory manager closed")
	// ErrPoolDestroyed: the pool was destroyed.
	ErrPoolDestroyed = errors.New("memory pool destroyed")
	// ErrPoolExists: a live pool already has that name.
	ErrPoolExists = errors.New("memory pool name already in use")
	// ErrLeak: segments were still out when the manager was closed.
	ErrLeak = errors.New("memory segments still in use")
)

// Manager owns the budget, the mapped arenas and the pools of one TaskManager.
// Its methods are safe for concurrent use.
type Manager struct {
	segSize    int
	budgetSegs int // TotalBytes / SegmentSize
	arenaSegs  int // ArenaBytes / SegmentSize
	total      int64
	log        *slog.Logger

	mu       sync.Mutex
	closed   bool
	unmapped bool
	reserved int // segments reserved by pools (and still out of destroyed ones)
	arenas   [][]byte
	carve    []Segment  // headers of the newest arena not handed to any pool yet
	free     []*Segment // materialised segments owned by no pool
	pools    map[string]*Pool

	// Read lock-free by Stats.
	poolList       atomic.Pointer[[]*Pool]
	usedSegs       atomic.Int64
	peakSegs       atomic.Int64
	reservedSegs   atomic.Int64
	mappedBytes    atomic.Int64
	doubleReleases atomic.Int64
}

// NewManager validates cfg (after WithDefaults) and returns a manager. It maps
// no memory until a pool requests its first segment.
func NewManager(cfg Config) (*Manager, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating memory manager: %w", err)
	}
	m := &Manager{
		segSize:    cfg.SegmentSize,
		budgetSegs: int(cfg.TotalBytes / int64(cfg.SegmentSize)),
		arenaSegs:  int(cfg.ArenaBytes / int64(cfg.SegmentSize)),
		total:      cfg.TotalBytes,
		log:        cfg.Logger,
		pools:      map[string]*Pool{},
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.poolList.Store(&[]*Pool{})
	return m, nil
}

// SegmentSize is the size in bytes of every segment.
func (m *Manager) SegmentSize() int { return m.segSize }

// CreatePool reserves maxSegments segments of the budget for a new pool named
// name. The name must be unique among live pools; it appears in Stats and in
// errors. If the budget cannot cover the pool, the error wraps
// ErrBudgetExceeded and says what the pool needed and what was left.
func (m *Manager) CreatePool(name string, maxSegments int) (*Pool, error) {
	if name == "" {
		return nil, errors.New("creating memory pool: name is empty")
	}
	if maxSegments < 1 {
		return nil, fmt.Errorf("creating memory pool %q: maxSegments must be at least 1, got %d", name, maxSegments)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("creating memory pool %q: %w", name, ErrClosed)
	}
	if _, ok := m.pools[name]; ok {
		return nil, fmt.Errorf("creating memory pool %q: %w", name, ErrPoolExists)
	}
	if left := m.budgetSegs - m.reserved; maxSegments > left {
		return nil, fmt.Errorf("creating memory pool %q: needs %d segments (%s) but only %d segments (%s) of the %s budget are left: %w",
			name, maxSegments, formatBytes(int64(maxSegments)*int64(m.segSize)),
			left, formatBytes(int64(left)*int64(m.segSize)), formatBytes(m.total), ErrBudgetExceeded)
	}
	p := &Pool{m: m, name: name, max: maxSegments}
	m.reserved += maxSegments
	m.reservedSegs.Store(int64(m.reserved))
	m.pools[name] = p
	m.publishPoolsLocked()
	return p, nil
}

// publishPoolsLocked refreshes the pool list Stats reads. Caller holds m.mu.
func (m *Manager) publishPoolsLocked() {
	list := make([]*Pool, 0, len(m.pools))
	for _, p := range m.pools {
		list = append(list, p)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	m.poolList.Store(&list)
}

// materialize hands out a segment that belongs to no pool: a free one, else a
// fresh one carved from the arenas, mapping a new arena if needed. The caller
// (a pool) has checked that the segment is within its reservation.
func (m *Manager) materialize() (*Segment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if n := len(m.free); n > 0 {
		s := m.free[n-1]
		m.free[n-1] = nil
		m.free = m.free[:n-1]
		return s, nil
	}
	if len(m.carve) == 0 {
		if err := m.mapArenaLocked(); err != nil {
			return nil, err
		}
	}
	s := &m.carve[0]
	m.carve = m.carve[1:]
	return s, nil
}

// mapArenaLocked maps the next arena: ArenaBytes, or less if the budget has
// less left. Caller holds m.mu.
func (m *Manager) mapArenaLocked() error {
	mappedSegs := int(m.mappedBytes.Load() / int64(m.segSize))
	segs := min(m.arenaSegs, m.budgetSegs-mappedSegs)
	if segs <= 0 {
		// Unreachable while reservations are kept; guard against a bug turning
		// into an over-budget mapping.
		return fmt.Errorf("mapping arena: %d of %d budgeted segments already mapped: %w", mappedSegs, m.budgetSegs, ErrBudgetExceeded)
	}
	size := segs * m.segSize
	mem, err := mapArena(size)
	if err != nil {
		return fmt.Errorf("mapping a %s arena: %w", formatBytes(int64(size)), err)
	}
	m.arenas = append(m.arenas, mem)
	m.mappedBytes.Add(int64(size))
	headers := make([]Segment, segs)
	for i := range headers {
		off := i * m.segSize
		headers[i].mem = mem[off : off+m.segSize : off+m.segSize]
	}
	m.carve = headers
	return nil
}

// giveBack takes segments that no pool owns any more and returns outstanding
// reservations of a pool. Pools call it with their own lock held (lock order:
// pool, then manager).
func (m *Manager) giveBack(segs []*Segment, unreserve int, drop *Pool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.free = append(m.free, segs...)
	m.reserved -= unreserve
	m.reservedSegs.Store(int64(m.reserved))
	if drop != nil && m.pools[drop.name] == drop {
		delete(m.pools, drop.name)
		m.publishPoolsLocked()
	}
}

// noteOut counts one more segment out, updating the peak.
func (m *Manager) noteOut() {
	n := m.usedSegs.Add(1)
	for {
		p := m.peakSegs.Load()
		if n <= p || m.peakSegs.CompareAndSwap(p, n) {
			return
		}
	}
}

// Stats is a snapshot of a manager's accounting. Byte figures are multiples of
// the segment size.
type Stats struct {
	// Total is the budget.
	Total int64
	// Reserved is what the pools have reserved.
	Reserved int64
	// Mapped is the memory mapped so far (never more than Total).
	Mapped int64
	// Used is the memory in segments currently handed out.
	Used int64
	// Peak is the highest Used so far.
	Peak int64
	// SegmentSize is the size of one segment.
	SegmentSize int
	// DoubleReleases counts Release calls on segments already released.
	DoubleReleases int64
	// Pools lists the live pools, and destroyed ones whose segments are still
	// out, by name.
	Pools []PoolStats
}

// PoolStats is the accounting of one pool, in segments.
type PoolStats struct {
	Name string
	// Max is the pool's reservation.
	Max int
	// InUse is the number of segments handed out and not yet released.
	InUse int
	// Peak is the highest InUse so far.
	Peak int
	// Destroyed is true for a destroyed pool that still has segments out.
	Destroyed bool
}

// Stats returns the current accounting. It reads atomics only and may be
// called from any goroutine at any rate; the figures of different pools are
// each exact but not taken at one instant.
func (m *Manager) Stats() Stats {
	seg := int64(m.segSize)
	st := Stats{
		Total:          m.total,
		Reserved:       m.reservedSegs.Load() * seg,
		Mapped:         m.mappedBytes.Load(),
		Used:           m.usedSegs.Load() * seg,
		Peak:           m.peakSegs.Load() * seg,
		SegmentSize:    m.segSize,
		DoubleReleases: m.doubleReleases.Load(),
	}
	pools := *m.poolList.Load()
	st.Pools = make([]PoolStats, len(pools))
	for i, p := range pools {
		st.Pools[i] = PoolStats{
			Name:      p.name,
			Max:       p.max,
			InUse:     int(p.inUse.Load()),
			Peak:      int(p.peak.Load()),
			Destroyed: p.destroyedFlag.Load(),
		}
	}
	return st
}

// Close closes every pool (Request then fails with ErrClosed) and unmaps the
// arenas. If segments are still out, Close leaves the arenas mapped (unmapping
// would turn the leak into a crash of whoever still holds them) and returns an
// error wrapping ErrLeak that names the pools holding them; calling Close again
// after they are released unmaps. Close is idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	pools := make([]*Pool, 0, len(m.pools))
	for _, p := range m.pools {
		pools = append(pools, p)
	}
	m.mu.Unlock()

	// Stop every pool from handing out segments; their free segments come back
	// to the manager. Done without m.mu (lock order: pool, then manager).
	for _, p := range pools {
		p.kill(ErrClosed)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.unmapped {
		return nil
	}
	if out := m.usedSegs.Load(); out > 0 {
		var holders []string
		for _, p := range *m.poolList.Load() {
			if n := p.inUse.Load(); n > 0 {
				holders = append(holders, fmt.Sprintf("pool %q holds %d", p.name, n))
			}
		}
		sort.Strings(holders)
		return fmt.Errorf("closing memory manager: %d segments (%s) still in use (%s); arenas left mapped: %w",
			out, formatBytes(out*int64(m.segSize)), strings.Join(holders, ", "), ErrLeak)
	}
	var errs []error
	for _, a := range m.arenas {
		if err := unmapArena(a); err != nil {
			errs = append(errs, err)
		}
	}
	m.arenas, m.carve, m.free = nil, nil, nil
	m.unmapped = true
	m.mappedBytes.Store(0)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing memory manager: unmapping arenas: %w", err)
	}
	return nil
}
