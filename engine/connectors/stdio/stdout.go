package stdio

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/internal/recfmt"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// stdoutMu serialises writes to standard output from every stdout sink
// subtask of the process, so batches never interleave.
var stdoutMu sync.Mutex

// BuildStdout validates a stdout sink's params.
//
//	sinks:
//	  - name: print
//	    type: stdout
//	    format: value      # value (default), key-value, json
func BuildStdout(p *params.Params) (registry.Operator, error) {
	format := recfmt.ParseFormat(p)
	if err := p.Err(); err != nil {
		return registry.Operator{}, err
	}
	w := os.Stdout
	return registry.Operator{New: func() (api.Operator, error) {
		return NewStdout(w, &stdoutMu, format), nil
	}}, nil
}

// StdoutSink writes one line per record. Each subtask formats a whole batch
// into its own buffer and writes it with one call under a lock shared by
// every subtask writing to the same place: the lock is taken once per batch,
// never per record, and lines of different subtasks never interleave.
// Output is written at the end of every batch, so it appears promptly even
// on a slow stream; Finish and Close have nothing left to flush.
type StdoutSink struct {
	w      io.Writer
	mu     *sync.Mutex
	format recfmt.Format
	buf    []byte
}

// NewStdout returns a sink writing to w, taking mu around every write.
func NewStdout(w io.Writer, mu *sync.Mutex, format recfmt.Format) *StdoutSink {
	return &StdoutSink{w: w, mu: mu, format: format}
}

func (s *StdoutSink) Open(api.Context) error {
	s.buf = make([]byte, 0, 64<<10)
	return nil
}

// ProcessBatch writes the batch's records, one line each.
func (s *StdoutSink) ProcessBatch(in *api.Batch, _ api.Output) error {
	for i := range in.Records {
		s.buf = recfmt.Append(s.buf, s.format, &in.Records[i])
	}
	return s.flush()
}

func (s *StdoutSink) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	s.mu.Lock()
	_, err := s.w.Write(s.buf)
	s.mu.Unlock()
	if cap(s.buf) > 4<<20 { // do not keep the memory of one huge batch
		s.buf = make([]byte, 0, 64<<10)
	} else {
		s.buf = s.buf[:0]
	}
	if err != nil {
		return fmt.Errorf("stdout sink: writing: %w", err)
	}
	return nil
}

func (s *StdoutSink) ProcessWatermark(int64, api.Output) error { return nil }

// Finish flushes what is buffered.
func (s *StdoutSink) Finish(api.Output) error { return s.flush() }

// Close flushes what is buffered.
func (s *StdoutSink) Close() error { return s.flush() }
