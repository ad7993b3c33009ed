//go:build !unix

package memory

// On systems without mmap in package syscall, arenas fall back to the Go
// heap: correct, but the GC scans them.
func mapArena(n int) ([]byte, error) { return make([]byte, n), nil }

func unmapArena([]byte) error { return nil }

const offHeap = false
