// Package statebench holds benchmarks of WebAssembly keyed state over the
// RocksDB backend, apart from host's own tests so that those do not link
// RocksDB. It has no code of its own.
package statebench
