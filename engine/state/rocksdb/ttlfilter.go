package rocksdb

// The TTL compaction filter is written in C so that compactions, which run on
// RocksDB's own threads, never call into Go. It drops a value whose 8-byte
// big-endian expiry prefix is non-zero and not after the filter's clock. The
// clock is a cell the backend stores its latest reading into: compaction only
// drops what the backend itself already considers expired, also under a
// test's fake clock.

/*
#cgo LDFLAGS: -lrocksdb
#include <stdint.h>
#include <stdlib.h>
#include <rocksdb/c.h>

typedef struct { int64_t now_ms; } freshet_ttl_clock;

static void freshet_ttl_destroy(void* state) { free(state); }

static const char* freshet_ttl_name(void* state) { return "freshet.ttl.v1"; }

static unsigned char freshet_ttl_filter(void* state, int level, const char* key, size_t key_length,
		const char* value, size_t value_length, char** new_value, size_t* new_value_length,
		unsigned char* value_changed) {
	if (value_length < 8) {
		return 0;
	}
	const unsigned char* p = (const unsigned char*)value;
	uint64_t exp = 0;
	for (int i = 0; i < 8; i++) {
		exp = (exp << 8) | p[i];
	}
	if (exp == 0) {
		return 0;
	}
	int64_t now = __atomic_load_n(&((freshet_ttl_clock*)state)->now_ms, __ATOMIC_RELAXED);
	return (int64_t)exp <= now;
}

static rocksdb_compactionfilter_t* freshet_ttl_filter_create(freshet_ttl_clock** clock) {
	freshet_ttl_clock* c = calloc(1, sizeof(freshet_ttl_clock));
	if (c == NULL) {
		return NULL;
	}
	*clock = c;
	return rocksdb_compactionfilter_create(c, freshet_ttl_destroy, freshet_ttl_filter, freshet_ttl_name);
}
*/
import "C"

import (
	"errors"
	"sync/atomic"
	"unsafe"

	"github.com/linxGnu/grocksdb"
)

// ttlFilter is a compaction filter with its clock cell. The filter (and the
// cell, which its destructor frees) is owned by the Options it is set on.
type ttlFilter struct {
	filter grocksdb.CompactionFilter
	now    *int64 // C memory
}

func newTTLFilter() (*ttlFilter, error) {
	var clock *C.freshet_ttl_clock
	f := C.freshet_ttl_filter_create(&clock)
	if f == nil {
		return nil, errors.New("allocating the TTL compaction filter")
	}
	return &ttlFilter{
		filter: grocksdb.NewNativeCompactionFilter(unsafe.Pointer(f)),
		now:    (*int64)(unsafe.Pointer(&clock.now_ms)),
	}, nil
}

// advance publishes a clock reading (ms since the epoch) to the filter; the
// filter's clock never goes backwards.
func (f *ttlFilter) advance(nowMs int64) {
	if nowMs > atomic.LoadInt64(f.now) {
		atomic.StoreInt64(f.now, nowMs)
	}
}
