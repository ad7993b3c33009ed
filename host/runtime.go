// Package host runs Freshet's WebAssembly operators: it compiles modules once
// (content-addressed, with an on-disk compilation cache), instantiates one
// sandboxed instance per task, and adapts the guest functions described by a
// module to the engine's interfaces (api.Operator, api.TimerHandler,
// api.AggregateFunction, key selectors, window functions, deserializers).
//
// The protocol between host and guest is ABI v1 (docs/abi.md; constants in
// host/abi). Records cross the boundary in batches: the host writes a batch of
// entries into the guest's input buffer and makes one call per batch.
//
// Invariants:
//   - Only this package tree imports wazero.
//   - Every module is metered before it is compiled (host/internal/meter):
//     guest code pays for a fuel check per loop iteration (and per entry of
//     a function that may recurse) and calls back into the host every
//     meter.Fuel of them, where the batch deadline
//     and task cancellation are enforced. A guest therefore never runs more
//     than a few microseconds without reaching a Go safepoint.
//   - An Instance belongs to one goroutine (its task) and is never shared.
//   - A trap, timeout, memory-limit hit or ABI violation poisons an instance:
//     every later call fails with ErrPoisoned and the adapter must be
//     discarded (the task restarts and makes a new one).
//   - Guest memory views are fetched again after every guest call, because a
//     memory.grow detaches earlier views.
//   - Keyed state written by the guest goes through a write-back cache that
//     is flushed after each successful batch (and before Close), never after
//     a failed one.
package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	wapi "github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/freshet/freshet/host/abi"
	"github.com/freshet/freshet/host/internal/meter"
)

// Defaults of Config.
const (
	DefaultMemoryLimit     = 64 << 20
	DefaultBatchTimeout    = time.Second
	DefaultMaxBatchRecords = 1024
	DefaultMaxModuleSize   = 64 << 20
	// MinMemoryLimit is the smallest memory cap accepted: a Go guest needs
	// about 4 MiB before it runs any user code.
	MinMemoryLimit = 1 << 20
)

// Config configures a Runtime. The zero value is usable: Defaults fills it.
type Config struct {
	// CompilationCacheDir is where compiled machine code is cached across
	// processes. Empty means DefaultCompilationCacheDir(); "off" disables the
	// on-disk cache (modules are still compiled once per Runtime).
	CompilationCacheDir string
	// MemoryLimit caps each instance's linear memory, in bytes
	// (default 64 MiB). Operators may set their own.
	MemoryLimit int64
	// BatchTimeout is the longest one guest call may run (default 1s).
	BatchTimeout time.Duration
	// InputBufferSize and OutputBufferSize are the buffer sizes requested
	// from guests at init (default 256 KiB each). They bound the bytes per
	// call; MaxBatchRecords bounds the records per call (default 1024).
	InputBufferSize  int
	OutputBufferSize int
	MaxBatchRecords  int
	// MaxModuleSize rejects larger modules (default 64 MiB).
	MaxModuleSize int64
	// Logger receives runtime events; operator logs go to the task's logger.
	Logger *slog.Logger
	// Uninterruptible runs guests without metering (the fuel checks at
	// function entries and loop iterations that let the host stop a call):
	// guest code runs a few percent faster, but BatchTimeout is no longer
	// enforced, and a guest that never returns hangs its task and stalls the
	// host's garbage collector for good. Only for trusted modules.
	Uninterruptible bool
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.MemoryLimit == 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = DefaultBatchTimeout
	}
	if c.InputBufferSize == 0 {
		c.InputBufferSize = int(abi.DefaultInputCapacity)
	}
	if c.OutputBufferSize == 0 {
		c.OutputBufferSize = int(abi.DefaultOutputCapacity)
	}
	if c.MaxBatchRecords == 0 {
		c.MaxBatchRecords = DefaultMaxBatchRecords
	}
	if c.MaxModuleSize == 0 {
		c.MaxModuleSize = DefaultMaxModuleSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case c.MemoryLimit < MinMemoryLimit || c.MemoryLimit > 4<<30:
		return fmt.Errorf("host config: MemoryLimit %d is out of range [%d, 4GiB]", c.MemoryLimit, MinMemoryLimit)
	case c.BatchTimeout <= 0:
		return fmt.Errorf("host config: BatchTimeout must be positive, got %s", c.BatchTimeout)
	case c.InputBufferSize < 4096 || c.InputBufferSize > 64<<20:
		return fmt.Errorf("host config: InputBufferSize %d is out of range [4KiB, 64MiB]", c.InputBufferSize)
	case c.OutputBufferSize < 4096 || c.OutputBufferSize > 64<<20:
		return fmt.Errorf("host config: OutputBufferSize %d is out of range [4KiB, 64MiB]", c.OutputBufferSize)
	case c.MaxBatchRecords < 1:
		return fmt.Errorf("host config: MaxBatchRecords must be positive, got %d", c.MaxBatchRecords)
	case c.MaxModuleSize < 1:
		return fmt.Errorf("host config: MaxModuleSize must be positive, got %d", c.MaxModuleSize)
	}
	return nil
}

// DefaultCompilationCacheDir is <user cache dir>/freshet/wasm, or a
// directory under the temporary directory when there is no user cache dir.
func DefaultCompilationCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "freshet", "wasm")
}

// Runtime compiles and instantiates modules. It is safe for concurrent use;
// one Runtime per process is the norm.
type Runtime struct {
	cfg   Config
	rt    wazero.Runtime
	cache wazero.CompilationCache

	mu      sync.Mutex
	modules map[[32]byte]*loading
	closed  bool
}

type loading struct {
	done chan struct{}
	mod  *Module
	err  error
}

// NewRuntime makes a runtime with the host functions of ABI v1 and the
// minimal WASI that guests may import.
func NewRuntime(ctx context.Context, cfg Config) (*Runtime, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Calls are bounded by metering (host/internal/meter), not by wazero's
	// WithCloseOnContextDone, which costs ~100 ns per loop iteration.
	rc := wazero.NewRuntimeConfigCompiler().
		WithCoreFeatures(wapi.CoreFeaturesV2)
	r := &Runtime{cfg: cfg, modules: map[[32]byte]*loading{}}
	if cfg.CompilationCacheDir != "off" {
		dir := cfg.CompilationCacheDir
		if dir == "" {
			dir = DefaultCompilationCacheDir()
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating wasm compilation cache dir: %w", err)
		}
		cache, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			return nil, fmt.Errorf("opening wasm compilation cache %s: %w", dir, err)
		}
		r.cache = cache
		rc = rc.WithCompilationCache(cache)
	}
	r.rt = wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.rt); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("instantiating WASI: %w", err)
	}
	if err := instantiateHostModule(ctx, r.rt); err != nil {
		r.Close(ctx)
		return nil, err
	}
	if err := instantiateMeterModule(ctx, r.rt); err != nil {
		r.Close(ctx)
		return nil, err
	}
	return r, nil
}

// Config returns the runtime's configuration, defaults filled.
func (r *Runtime) Config() Config { return r.cfg }

// Close releases compiled code and the compilation cache handle. Instances
// must be closed first.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	err := r.rt.Close(ctx)
	if r.cache != nil {
		err = errors.Join(err, r.cache.Close(ctx))
	}
	return err
}

// LoadFile reads and loads the module at path; name defaults to the file's
// base name.
func (r *Runtime) LoadFile(ctx context.Context, path string) (*Module, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("loading wasm module: %w", err)
	}
	if info.Size() > r.cfg.MaxModuleSize {
		return nil, fmt.Errorf("loading wasm module %s: %w: %d bytes is more than the limit of %d", path, ErrInvalidModule, info.Size(), r.cfg.MaxModuleSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading wasm module: %w", err)
	}
	return r.Load(ctx, filepath.Base(path), b)
}

// Load compiles and validates a module, or returns the one already loaded
// with the same content (by SHA-256); name is only for messages. Validation
// checks imports and exports against the ABI, instantiates the module once,
// and checks its ABI version and descriptor.
func (r *Runtime) Load(ctx context.Context, name string, wasm []byte) (*Module, error) {
	hash := sha256.Sum256(wasm)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errors.New("loading wasm module: runtime is closed")
	}
	if l, ok := r.modules[hash]; ok {
		r.mu.Unlock()
		select {
		case <-l.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return l.mod, l.err
	}
	l := &loading{done: make(chan struct{})}
	r.modules[hash] = l
	r.mu.Unlock()

	l.mod, l.err = r.load(ctx, name, hash, wasm)
	if l.err != nil {
		r.mu.Lock()
		delete(r.modules, hash) // let a later Load retry (the error may be the context's)
		r.mu.Unlock()
	}
	close(l.done)
	return l.mod, l.err
}

func (r *Runtime) load(ctx context.Context, name string, hash [32]byte, wasm []byte) (*Module, error) {
	id := fmt.Sprintf("%s (sha256:%s)", name, hex.EncodeToString(hash[:6]))
	fail := func(kind error, format string, args ...any) error {
		return &Error{Module: id, Entry: -1, Kind: kind, Err: fmt.Errorf(format, args...)}
	}
	if int64(len(wasm)) > r.cfg.MaxModuleSize {
		return nil, fail(ErrInvalidModule, "%d bytes is more than the limit of %d", len(wasm), r.cfg.MaxModuleSize)
	}
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, fail(ErrInvalidModule, "not a WebAssembly binary (bad magic number)")
	}
	var err error
	code := wasm
	if !r.cfg.Uninterruptible {
		if code, err = meter.Instrument(wasm); err != nil {
			return nil, fail(ErrInvalidModule, "%w", err)
		}
	}
	compiled, err := r.rt.CompileModule(ctx, code)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("compiling wasm module %s: %w", id, ctx.Err())
		}
		return nil, fail(ErrInvalidModule, "compiling: %w", err)
	}
	m := &Module{rt: r, compiled: compiled, Hash: hash, Name: name, id: id, Size: len(wasm), metered: !r.cfg.Uninterruptible}
	if err := m.checkImportsExports(); err != nil {
		compiled.Close(ctx)
		return nil, &Error{Module: id, Entry: -1, Kind: ErrABI, Err: err}
	}
	if err := m.probe(ctx); err != nil {
		compiled.Close(ctx)
		return nil, err
	}
	return m, nil
}
