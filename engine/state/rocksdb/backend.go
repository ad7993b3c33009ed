package rocksdb

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/linxGnu/grocksdb"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/state"
	"github.com/freshet/freshet/engine/state/internal/keyed"
)

// Metadata keys in the default column family.
const (
	metaFormat      = "freshet/format"
	metaMaxPar      = "freshet/max-parallelism"
	metaListSeq     = "freshet/list-seq"
	metaStatePrefix = "freshet/state/"

	formatVersion = "1"
	cfPrefix      = "s:"

	restoreBatch      = 1024    // entries per restore write batch
	memtableCheck     = 512     // writes between memtable reports to SharedResources
	importBatchBytes  = 4 << 20 // bytes per write batch when importing a checkpoint
	defaultColumnName = "default"
)

var _ state.Backend = (*Backend)(nil)

// Backend is the RocksDB keyed state of one operator subtask.
type Backend struct {
	opts state.Options
	res  *SharedResources
	now  func() time.Time
	cur  keyed.Current

	db        *grocksdb.DB
	dbOpts    *grocksdb.Options
	stateOpts *grocksdb.Options
	filter    *ttlFilter
	meta      *grocksdb.ColumnFamilyHandle
	ro        *grocksdb.ReadOptions
	scanRO    *grocksdb.ReadOptions
	bounded   []boundedRead // prefix scans in progress, innermost last
	depth     int           // how many of bounded are in use
	wo        *grocksdb.WriteOptions
	flushOpts *grocksdb.FlushOptions

	// mu guards closed and the states list against Stats and Checkpoint,
	// which may run on other goroutines.
	mu       sync.RWMutex
	closed   bool
	states   map[string]*rstate
	all      []*rstate // creation order
	declared []*rstate // declaration order

	// Native snapshots (native.go): a random name for this instance's SST
	// files, and the shared names of the files inherited from the snapshot
	// it was opened from (local file name → shared name).
	instance    string
	sharedNames map[string]string

	nextSeq  uint64               // next list element sequence
	savedSeq uint64               // nextSeq as last stored in the metadata
	pending  *grocksdb.WriteBatch // restored entries not yet written
	writes   uint64
	cache    *valueCache // nil when Config.StateCacheSize is 0
	memo     scanMemo    // the last list iteration (Clear after Iter)
	nextID   uint32      // id of the next state (cache keys)

	// Reused buffers.
	kbuf, vbuf, val       []byte
	scratch, scratch2, rs []byte

	stats opStats
}

type rstate struct {
	name     string
	kind     api.StateKind
	desc     api.StateDescriptor
	declared bool
	ttl      int64
	cf       *grocksdb.ColumnFamilyHandle
	id       uint32
	cached   bool // entries go through the write-back cache
	// may holds every key written to cf, when this backend created cf
	// empty (cached states only; nil: unknown, read RocksDB).
	may *keyFilter
}

// newState makes the rstate of a column family.
func (b *Backend) newState(name string, kind api.StateKind, cf *grocksdb.ColumnFamilyHandle) *rstate {
	b.nextID++
	return &rstate{name: name, kind: kind, cf: cf, id: b.nextID, cached: b.cache != nil && cacheable(kind)}
}

// New creates an empty backend in opts.Dir, which must not hold a database.
func New(opts state.Options, res *SharedResources) (*Backend, error) {
	if err := checkOptions(opts, res); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, "CURRENT")); err == nil {
		return nil, fmt.Errorf("creating RocksDB state of operator %q: %s already holds a database (use OpenCheckpoint, or remove it)", opts.Operator, opts.Dir)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating RocksDB state of operator %q: %w", opts.Operator, err)
	}
	b, err := open(opts, res, []string{defaultColumnName}, false)
	if err != nil {
		return nil, err
	}
	if err := b.writeMeta(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func checkOptions(opts state.Options, res *SharedResources) error {
	if err := keyed.CheckOptions(opts); err != nil {
		return err
	}
	if opts.Dir == "" {
		return fmt.Errorf("RocksDB state of operator %q: no local directory (Options.Dir)", opts.Operator)
	}
	if res == nil {
		return fmt.Errorf("RocksDB state of operator %q: no SharedResources", opts.Operator)
	}
	return nil
}

// open opens the database in opts.Dir with the named column families; an
// existing database's metadata is checked and its states loaded.
func open(opts state.Options, res *SharedResources, columns []string, existing bool) (*Backend, error) {
	filter, err := newTTLFilter()
	if err != nil {
		return nil, err
	}
	dbOpts, stateOpts := res.options(filter)
	cfOpts := make([]*grocksdb.Options, len(columns))
	for i, name := range columns {
		cfOpts[i] = stateOpts
		if name == defaultColumnName {
			cfOpts[i] = dbOpts
		}
	}
	db, handles, err := grocksdb.OpenDbColumnFamilies(dbOpts, opts.Dir, columns, cfOpts)
	if err != nil {
		dbOpts.Destroy()
		stateOpts.Destroy()
		return nil, fmt.Errorf("opening RocksDB state of operator %q in %s: %w", opts.Operator, opts.Dir, err)
	}
	b := &Backend{
		opts:      opts,
		res:       res,
		now:       keyed.Clock(opts),
		db:        db,
		dbOpts:    dbOpts,
		stateOpts: stateOpts,
		filter:    filter,
		ro:        grocksdb.NewDefaultReadOptions(),
		scanRO:    grocksdb.NewDefaultReadOptions(),
		wo:        grocksdb.NewDefaultWriteOptions(),
		flushOpts: grocksdb.NewDefaultFlushOptions(),
		states:    make(map[string]*rstate),
		nextSeq:   1,
	}
	if res.cfg.StateCacheSize > 0 {
		b.cache = newValueCache(res)
	}
	b.scanRO.SetFillCache(false)
	b.wo.DisableWAL(true)
	b.flushOpts.SetWait(false)
	b.cur.Init(opts)
	unclaimed := map[string]*grocksdb.ColumnFamilyHandle{}
	for i, name := range columns {
		if name == defaultColumnName {
			b.meta = handles[i]
		} else {
			unclaimed[name] = handles[i]
		}
	}
	if err := res.register(b); err != nil {
		b.release(unclaimed)
		return nil, fmt.Errorf("opening RocksDB state of operator %q: %w", opts.Operator, err)
	}
	if existing {
		if err := b.loadMeta(unclaimed); err != nil {
			b.release(unclaimed)
			res.unregister(b)
			return nil, err
		}
	}
	return b, nil
}

func (b *Backend) writeMeta() error {
	b.vbuf = binary.AppendUvarint(b.vbuf[:0], uint64(b.opts.MaxParallelism))
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.PutCF(b.meta, []byte(metaFormat), []byte(formatVersion))
	wb.PutCF(b.meta, []byte(metaMaxPar), b.vbuf)
	if err := b.db.Write(b.wo, wb); err != nil {
		return b.errorf("writing metadata", err)
	}
	return nil
}

// readMeta reads the metadata of db: the kinds of its states and its list
// sequence high-water mark, after checking format and max parallelism.
func readMeta(db *grocksdb.DB, meta *grocksdb.ColumnFamilyHandle, ro *grocksdb.ReadOptions, maxPar int) (kinds map[string]api.StateKind, listSeq uint64, err error) {
	get := func(k string) ([]byte, error) {
		v, err := db.GetPinnedCF(ro, meta, []byte(k))
		if err != nil {
			return nil, err
		}
		defer v.Destroy()
		return append([]byte(nil), v.Data()...), nil
	}
	format, err := get(metaFormat)
	if err != nil {
		return nil, 0, err
	}
	if string(format) != formatVersion {
		return nil, 0, fmt.Errorf("%w: state format %q, want %q (not a Freshet state database?)", ErrCorrupt, format, formatVersion)
	}
	mp, err := get(metaMaxPar)
	if err != nil {
		return nil, 0, err
	}
	if n, w := binary.Uvarint(mp); w <= 0 || n != uint64(maxPar) {
		return nil, 0, fmt.Errorf("database was written with max parallelism %d, the job has %d: key groups would not match", n, maxPar)
	}
	if seq, err := get(metaListSeq); err != nil {
		return nil, 0, err
	} else if len(seq) == 8 {
		listSeq = binary.BigEndian.Uint64(seq)
	}
	kinds = map[string]api.StateKind{}
	it := db.NewIteratorCF(ro, meta)
	defer it.Close()
	for it.Seek([]byte(metaStatePrefix)); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		name, ok := strings.CutPrefix(string(k.Data()), metaStatePrefix)
		kind := api.StateKind(0)
		if d := v.Data(); len(d) == 1 {
			kind = api.StateKind(d[0])
		}
		k.Free()
		v.Free()
		if !ok {
			break
		}
		if !keyed.ValidKind(kind) {
			return nil, 0, fmt.Errorf("%w: state %q has unknown kind %d", ErrCorrupt, name, kind)
		}
		kinds[name] = kind
	}
	if err := it.Err(); err != nil {
		return nil, 0, err
	}
	return kinds, listSeq, nil
}

// loadMeta attaches the opened column families to the states the metadata names.
func (b *Backend) loadMeta(columns map[string]*grocksdb.ColumnFamilyHandle) error {
	kinds, seq, err := readMeta(b.db, b.meta, b.ro, b.opts.MaxParallelism)
	if err != nil {
		return b.errorf("reading metadata", err)
	}
	b.nextSeq, b.savedSeq = max(b.nextSeq, seq), seq
	for name, kind := range kinds {
		cf, ok := columns[cfPrefix+name]
		if !ok {
			return b.errorf("reading metadata", fmt.Errorf("%w: state %q has no column family", ErrCorrupt, name))
		}
		delete(columns, cfPrefix+name)
		st := b.newState(name, kind, cf)
		b.states[name] = st
		b.all = append(b.all, st)
	}
	if len(columns) > 0 {
		names := make([]string, 0, len(columns))
		for name := range columns {
			names = append(names, name)
		}
		return b.errorf("reading metadata", fmt.Errorf("%w: column families %q belong to no state", ErrCorrupt, names))
	}
	return nil
}

// release frees everything open returned, after a failure.
func (b *Backend) release(extra map[string]*grocksdb.ColumnFamilyHandle) {
	for _, cf := range extra {
		cf.Destroy()
	}
	for _, st := range b.all {
		st.cf.Destroy()
	}
	b.all, b.states = nil, nil
	if b.meta != nil {
		b.meta.Destroy()
	}
	b.db.Close()
	b.dbOpts.Destroy()
	b.stateOpts.Destroy() // also destroys the TTL filter
	b.ro.Destroy()
	b.scanRO.Destroy()
	for _, r := range b.bounded {
		r.ro.Destroy()
	}
	b.wo.Destroy()
	b.flushOpts.Destroy()
	if b.cache != nil {
		b.cache.close()
	}
}

// Close closes the database; its files stay in Options.Dir, which belongs to
// the caller. The state cache's dirty entries and entries restored but not
// yet written are discarded: nothing opens a closed backend's directory
// again (New refuses a directory holding a database, OpenCheckpoint one
// that is not empty; state outlives a backend only in checkpoints and
// snapshots), and writing a finished job's cache back cost a RocksDB write
// per dirty entry, 6% of Nexmark q5.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.cur.Close()
	if b.pending != nil {
		b.pending.Destroy()
		b.pending = nil
	}
	b.res.unregister(b)
	b.release(nil)
	return nil
}

func (b *Backend) errorf(what string, err error) error {
	return fmt.Errorf("RocksDB state of operator %q: %s: %w", b.opts.Operator, what, err)
}

func (b *Backend) stateErr(what string, st *rstate, err error) error {
	return fmt.Errorf("RocksDB state of operator %q: %s state %q: %w", b.opts.Operator, what, st.name, err)
}

func (b *Backend) SetCurrentKey(key []byte)      { b.cur.SetKey(key) }
func (b *Backend) CurrentKey() []byte            { return b.cur.Key() }
func (b *Backend) SetCurrentNamespace(ns []byte) { b.cur.SetNamespace(ns) }
func (b *Backend) CurrentNamespace() []byte      { return b.cur.Namespace() }

// Descriptors lists the declared states in declaration order.
// StateNames implements state.StateLister.
func (b *Backend) StateNames() []string {
	names := make([]string, 0, len(b.all))
	for _, st := range b.all {
		names = append(names, st.name)
	}
	slices.Sort(names)
	return names
}

func (b *Backend) Descriptors() []api.StateDescriptor {
	out := make([]api.StateDescriptor, 0, len(b.declared))
	for _, st := range b.declared {
		out = append(out, st.desc)
	}
	return out
}

// stateFor returns the state named name of kind kind, creating its column family.
func (b *Backend) stateFor(name string, kind api.StateKind) (*rstate, error) {
	if st, ok := b.states[name]; ok {
		if st.kind != kind {
			return nil, keyed.KindMismatch(b.opts.Operator, name, st.kind, kind)
		}
		return st, nil
	}
	if strings.IndexByte(name, 0) >= 0 {
		return nil, fmt.Errorf("operator %q: state %q: RocksDB state names cannot contain NUL bytes: %w", b.opts.Operator, name, state.ErrInvalidDescriptor)
	}
	cf, err := b.db.CreateColumnFamily(b.stateOpts, cfPrefix+name)
	if err != nil {
		return nil, b.errorf(fmt.Sprintf("creating column family of state %q", name), err)
	}
	if err := b.db.PutCF(b.wo, b.meta, []byte(metaStatePrefix+name), []byte{byte(kind)}); err != nil {
		return nil, b.errorf(fmt.Sprintf("recording state %q", name), err)
	}
	st := b.newState(name, kind, cf)
	if st.cached {
		st.may = newKeyFilter() // a new column family holds nothing yet
		b.cache.bytes += st.may.bytes
		b.cache.account()
	}
	b.mu.Lock()
	b.states[name] = st
	b.all = append(b.all, st)
	b.mu.Unlock()
	return st, nil
}

func (b *Backend) declare(d api.StateDescriptor, kind api.StateKind) (*rstate, error) {
	if b.closed {
		return nil, fmt.Errorf("operator %q: declaring state %q: %w", b.opts.Operator, d.Name, state.ErrClosed)
	}
	d, err := keyed.CheckDescriptor(d, kind)
	if err != nil {
		return nil, fmt.Errorf("operator %q: %w", b.opts.Operator, err)
	}
	if err := b.flushRestore(); err != nil {
		return nil, err
	}
	st, err := b.stateFor(d.Name, kind)
	if err != nil {
		return nil, err
	}
	if !st.declared {
		st.declared = true
		b.declared = append(b.declared, st)
	}
	st.desc = d
	st.ttl = keyed.TTLMillis(d.TTL)
	return st, nil
}

func (b *Backend) Value(d api.StateDescriptor) (api.ValueState, error) {
	st, err := b.declare(d, api.ValueStateKind)
	if err != nil {
		return nil, err
	}
	return &valueState{b: b, st: st}, nil
}

func (b *Backend) List(d api.StateDescriptor) (api.ListState, error) {
	st, err := b.declare(d, api.ListStateKind)
	if err != nil {
		return nil, err
	}
	return &listState{b: b, st: st}, nil
}

func (b *Backend) Map(d api.StateDescriptor) (api.MapState, error) {
	st, err := b.declare(d, api.MapStateKind)
	if err != nil {
		return nil, err
	}
	return &mapState{b: b, st: st}, nil
}

func (b *Backend) Reducing(d api.StateDescriptor) (api.ReducingState, error) {
	st, err := b.declare(d, api.ReducingStateKind)
	if err != nil {
		return nil, err
	}
	return &reducingState{b: b, st: st}, nil
}

func (b *Backend) Aggregating(d api.StateDescriptor) (api.AggregatingState, error) {
	st, err := b.declare(d, api.AggregatingStateKind)
	if err != nil {
		return nil, err
	}
	return &aggregatingState{b: b, st: st}, nil
}

// Snapshot emits every live entry, state by state in key order.
func (b *Backend) Snapshot(fn func(e *state.Entry) error) error {
	if b.closed {
		return fmt.Errorf("operator %q: snapshot: %w", b.opts.Operator, state.ErrClosed)
	}
	if err := b.flushRestore(); err != nil {
		return err
	}
	if err := b.writeBack(); err != nil {
		return err
	}
	now := b.nowMs()
	for _, st := range b.all {
		if err := b.snapshotState(st, now, fn); err != nil {
			return b.stateErr("snapshot of", st, err)
		}
	}
	return nil
}

func (b *Backend) snapshotState(st *rstate, now int64, fn func(e *state.Entry) error) error {
	it := b.db.NewIteratorCF(b.scanRO, st.cf)
	defer it.Close()
	e := state.Entry{State: st.name, Kind: st.kind}
	for it.SeekToFirst(); it.Valid(); it.Next() {
		k, v := it.Key(), it.Value()
		kg, key, ns, uk, err := decodeKey(st.kind, k.Data())
		if err != nil {
			return err
		}
		exp, val, err := splitValue(v.Data())
		if err != nil {
			return err
		}
		if keyed.Expired(exp, now) {
			continue
		}
		e.KeyGroup, e.Key, e.Namespace, e.UserKey, e.Value, e.ExpiresAt = kg, key, ns, uk, val, exp
		if err := fn(&e); err != nil {
			return err
		}
	}
	return it.Err()
}

// Restore adds one snapshot entry; entries of other subtasks' key groups and
// entries that have already expired are skipped. Entries are written in
// batches; the last batch is written before the next state operation.
func (b *Backend) Restore(e *state.Entry) error {
	if b.closed {
		return fmt.Errorf("operator %q: restore: %w", b.opts.Operator, state.ErrClosed)
	}
	if !b.opts.KeyGroups.Contains(e.KeyGroup) {
		return nil
	}
	if err := keyed.CheckEntry(e, b.opts.MaxParallelism); err != nil {
		return fmt.Errorf("operator %q: restore: %w", b.opts.Operator, err)
	}
	st, err := b.stateFor(e.State, e.Kind)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if e.ExpiresAt != 0 && keyed.Expired(e.ExpiresAt, b.nowMs()) {
		return nil
	}
	b.kbuf = keyed.AppendAddress(b.kbuf[:0], e.KeyGroup, e.Key, e.Namespace)
	if st.cached && len(b.cache.index) > 0 {
		b.cache.forget(st, b.kbuf)
	}
	b.recordKey(st, b.kbuf)
	switch st.kind {
	case api.ListStateKind:
		b.kbuf = binary.BigEndian.AppendUint64(b.kbuf, b.nextSeq)
		b.nextSeq++
	case api.MapStateKind:
		b.kbuf = append(b.kbuf, e.UserKey...)
	}
	b.vbuf = appendValue(b.vbuf[:0], e.ExpiresAt, e.Value)
	if b.pending == nil {
		b.pending = grocksdb.NewWriteBatch()
	}
	b.pending.PutCF(st.cf, b.kbuf, b.vbuf)
	if b.pending.Count() >= restoreBatch {
		return b.flushRestore()
	}
	return nil
}

// flushRestore writes the pending restored entries.
func (b *Backend) flushRestore() error {
	if b.pending == nil {
		return nil
	}
	wb := b.pending
	b.pending = nil
	defer wb.Destroy()
	if err := b.db.Write(b.wo, wb); err != nil {
		return b.errorf("writing restored entries", err)
	}
	return nil
}

func (b *Backend) nowMs() int64 {
	now := b.now().UnixMilli()
	b.filter.advance(now)
	return now
}
