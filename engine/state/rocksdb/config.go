package rocksdb

import (
	"errors"
	"fmt"

	"github.com/linxGnu/grocksdb"
)

// Config sizes the RocksDB resources of one TaskManager: every backend made
// with the same SharedResources shares its block cache and write-buffer budget.
type Config struct {
	// WriteBufferSize is the memtable budget in bytes shared by all backends
	// (all operator subtasks of the TaskManager). Each column family's
	// memtable is WriteBufferSize/8, clamped to [1 MiB, 64 MiB].
	WriteBufferSize int64
	// MaxBackgroundJobs bounds concurrent flushes and compactions per
	// backend; RocksDB's thread pool, shared by the process, grows to it.
	MaxBackgroundJobs int
	// BlockSize is the uncompressed size of an SST data block in bytes.
	BlockSize int
	// BlockCacheSize is the shared LRU block cache in bytes. Index and
	// filter blocks are charged to it too, so it bounds read-side memory.
	BlockCacheSize int64
	// BloomFilterBitsPerKey sizes the Bloom filter of each SST; 0 disables it.
	BloomFilterBitsPerKey int
	// Compression of SST blocks: none, snappy, lz4 or zstd.
	Compression Compression
	// StateCacheSize is the Go memory, shared by all backends, of the
	// write-back cache of value, reducing and aggregating state in front
	// of RocksDB; 0 turns it off. A key read or written again while cached
	// costs a hash lookup instead of RocksDB calls; dirty entries reach
	// RocksDB when evicted, in batches, and at every checkpoint.
	StateCacheSize int64
}

// Compression names an SST block compression.
type Compression string

const (
	CompressionNone   Compression = "none"
	CompressionSnappy Compression = "snappy"
	CompressionLZ4    Compression = "lz4"
	CompressionZSTD   Compression = "zstd"
)

func (c Compression) rocksdb() (grocksdb.CompressionType, bool) {
	switch c {
	case CompressionNone:
		return grocksdb.NoCompression, true
	case CompressionSnappy:
		return grocksdb.SnappyCompression, true
	case CompressionLZ4:
		return grocksdb.LZ4Compression, true
	case CompressionZSTD:
		return grocksdb.ZSTDCompression, true
	}
	return 0, false
}

const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

// Defaults returns the configuration used when a job sets none: 64 MiB of
// memtables, 256 MiB of block cache and 32 MiB of state cache per
// TaskManager.
func Defaults() Config {
	return Config{
		WriteBufferSize:       64 * mib,
		MaxBackgroundJobs:     2,
		BlockSize:             4 * kib,
		BlockCacheSize:        256 * mib,
		BloomFilterBitsPerKey: 10,
		Compression:           CompressionLZ4,
		StateCacheSize:        32 * mib,
	}
}

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("invalid RocksDB configuration")

// Validate reports every field that is out of range, naming it.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("%w: %s is %v, want %s", ErrInvalidConfig, field, v, want))
	}
	if c.WriteBufferSize < mib || c.WriteBufferSize > 64*gib {
		bad("WriteBufferSize", c.WriteBufferSize, "1 MiB to 64 GiB")
	}
	if c.MaxBackgroundJobs < 1 || c.MaxBackgroundJobs > 256 {
		bad("MaxBackgroundJobs", c.MaxBackgroundJobs, "1 to 256")
	}
	if c.BlockSize < 256 || c.BlockSize > 16*mib {
		bad("BlockSize", c.BlockSize, "256 B to 16 MiB")
	}
	if c.BlockCacheSize < mib || c.BlockCacheSize > 1024*gib {
		bad("BlockCacheSize", c.BlockCacheSize, "1 MiB to 1 TiB")
	}
	if c.StateCacheSize != 0 && (c.StateCacheSize < 64*kib || c.StateCacheSize > 1024*gib) {
		bad("StateCacheSize", c.StateCacheSize, "0 (off) or 64 KiB to 1 TiB")
	}
	if c.BloomFilterBitsPerKey < 0 || c.BloomFilterBitsPerKey > 64 {
		bad("BloomFilterBitsPerKey", c.BloomFilterBitsPerKey, "0 (off) to 64")
	}
	if _, ok := c.Compression.rocksdb(); !ok {
		bad("Compression", fmt.Sprintf("%q", c.Compression), "none, snappy, lz4 or zstd")
	}
	return errors.Join(errs...)
}

// memtableSize is the write buffer of one column family.
func (c Config) memtableSize() uint64 {
	return uint64(min(max(c.WriteBufferSize/8, mib), 64*mib))
}
