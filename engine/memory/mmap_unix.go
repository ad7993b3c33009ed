//go:build unix

package memory

import "syscall"

// mapArena maps n bytes of zeroed, private, anonymous memory outside the Go heap.
func mapArena(n int) ([]byte, error) {
	return syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
}

func unmapArena(b []byte) error { return syscall.Munmap(b) }

// offHeap reports whether arenas really live outside the Go heap.
const offHeap = true
