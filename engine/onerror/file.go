package onerror

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Dead-letter files are shared: every subtask (and every source) of the
// process that names the same path appends through one *os.File under one
// lock, so lines never interleave.
var shared struct {
	mu    sync.Mutex
	files map[string]*sharedFile
}

type sharedFile struct {
	key  string
	mu   sync.Mutex
	f    *os.File
	refs int // guarded by shared.mu
	buf  []byte
}

func openFile(path string) (*fileWriter, error) {
	key, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("dead-letter file %s: %w", path, err)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if sf, ok := shared.files[key]; ok {
		sf.refs++
		return &fileWriter{sf: sf}, nil
	}
	f, err := os.OpenFile(key, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dead-letter file: %w", err)
	}
	if shared.files == nil {
		shared.files = map[string]*sharedFile{}
	}
	sf := &sharedFile{key: key, f: f, refs: 1}
	shared.files[key] = sf
	return &fileWriter{sf: sf}, nil
}

// fileWriter is one subtask's handle on a shared dead-letter file.
type fileWriter struct {
	sf     *sharedFile
	closed bool
}

func (w *fileWriter) WriteDeadLetter(l *Letter) error {
	sf := w.sf
	sf.mu.Lock()
	defer sf.mu.Unlock()
	sf.buf = l.AppendJSON(sf.buf[:0])
	if _, err := sf.f.Write(sf.buf); err != nil {
		return fmt.Errorf("appending to %s: %w", sf.key, err)
	}
	return nil
}

func (w *fileWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	shared.mu.Lock()
	defer shared.mu.Unlock()
	sf := w.sf
	sf.refs--
	if sf.refs > 0 {
		return nil
	}
	delete(shared.files, sf.key)
	if err := sf.f.Close(); err != nil {
		return fmt.Errorf("closing dead-letter file %s: %w", sf.key, err)
	}
	return nil
}
