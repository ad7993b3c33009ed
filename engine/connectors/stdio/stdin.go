// Package stdio is the `stdin` source and the `stdout` sink.
//
// The stdin source reads lines from standard input (text, or JSON lines with
// the on-error policy, positions named "stdin:<line>") until end of input.
// Standard input cannot be split, so the source runs with parallelism 1: set
// `parallelism: 1` on it in the job; Open fails for any other.
//
//	sources:
//	  - name: lines
//	    type: stdin
//	    parallelism: 1
//	    format: text          # or json
//	    on-error: skip        # fail (default), skip, dead-letter
//	    max-line-size: 16MiB
//
// A reader goroutine, owned by the source, reads standard input into a few
// recycled 64KiB chunks; Poll splits them into lines and never blocks. The
// goroutine is stopped by Close. When standard input is a terminal or a
// regular file that cannot be given a read deadline, a read in progress
// cannot be interrupted: the goroutine then exits when that read returns.
//
// The stdout sink writes one line per record; see StdoutSink.
package stdio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/internal/lines"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

const (
	chunkSize  = 64 << 10
	chunkCount = 4
)

// Register adds the stdin source and the stdout sink to r.
func Register(r *registry.Registry) {
	r.AddSource("stdin", "text or JSON lines from standard input (parallelism 1)", BuildStdin)
	r.AddSink("stdout", "one line per record on standard output (value, key-value or json)", BuildStdout)
}

// BuildStdin validates a stdin source's params.
func BuildStdin(p *params.Params) (func() (api.Source, error), error) {
	format := lines.ParseFormat(p)
	policy := onerror.FromParams(p, "")
	maxLine := p.Size("max-line-size", 16<<20)
	if maxLine < 1 {
		p.Errorf("max-line-size", "must be positive")
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	in := os.Stdin
	return func() (api.Source, error) {
		return NewStdin(in, format, policy, int(maxLine)), nil
	}, nil
}

type chunk struct {
	buf []byte
	err error
}

// StdinSource reads lines from a reader (standard input in jobs).
type StdinSource struct {
	in      io.Reader
	format  lines.Format
	policy  onerror.Policy
	maxLine int

	chunks chan chunk
	free   chan []byte
	wake   chan struct{}
	done   chan struct{}
	exited chan struct{}

	cur     chunk
	have    bool // cur holds a chunk being split
	off     int
	carry   []byte // the start of a line that continues in the next chunk
	tooLong bool   // the line being carried is beyond maxLine
	lineNo  int64
	ended   bool

	emitter lines.Emitter
	handler *onerror.Handler
}

// NewStdin returns a source of the lines of in.
func NewStdin(in io.Reader, format lines.Format, policy onerror.Policy, maxLine int) *StdinSource {
	return &StdinSource{in: in, format: format, policy: policy, maxLine: maxLine}
}

// ErrParallelism is returned by Open when the source is not alone.
var ErrParallelism = errors.New("the stdin source needs parallelism 1")

// Open starts the reader goroutine.
func (s *StdinSource) Open(ctx api.Context) error {
	if p := ctx.Parallelism(); p != 1 {
		return fmt.Errorf("source %q: %w (standard input cannot be split), got parallelism %d", ctx.OperatorName(), ErrParallelism, p)
	}
	h, err := s.policy.NewHandler(ctx)
	if err != nil {
		return err
	}
	s.handler = h
	s.emitter = lines.Emitter{Format: s.format, Handler: h}
	s.chunks = make(chan chunk, chunkCount)
	s.free = make(chan []byte, chunkCount)
	for range chunkCount {
		s.free <- make([]byte, chunkSize)
	}
	s.wake = make(chan struct{}, 1)
	s.done = make(chan struct{})
	s.exited = make(chan struct{})
	go s.read()
	return nil
}

// read runs in the reader goroutine until end of input, an error or Close.
func (s *StdinSource) read() {
	defer close(s.exited)
	for {
		var buf []byte
		select {
		case buf = <-s.free:
		case <-s.done:
			return
		}
		n, err := s.in.Read(buf[:cap(buf)])
		select {
		case s.chunks <- chunk{buf: buf[:n], err: err}:
		case <-s.done:
			return
		}
		select {
		case s.wake <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// Wake fires when the reader goroutine has read more input.
func (s *StdinSource) Wake() <-chan struct{} { return s.wake }

// Poll emits up to out.Budget() lines that have been read.
func (s *StdinSource) Poll(out api.SourceContext) (api.SourceStatus, error) {
	if s.ended {
		return api.EndOfInput, nil
	}
	budget := max(1, out.Budget())
	for n := 0; n < budget; {
		if !s.have {
			select {
			case s.cur = <-s.chunks:
				s.have, s.off = true, 0
			default:
				if n > 0 {
					return api.MoreAvailable, nil
				}
				return api.NothingAvailable, nil
			}
		}
		data := s.cur.buf[s.off:]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			s.off += i + 1
			n++
			if err := s.line(out, data[:i]); err != nil {
				return api.MoreAvailable, err
			}
			continue
		}
		s.keep(data)
		err := s.cur.err
		s.free <- s.cur.buf
		s.have, s.cur = false, chunk{}
		switch {
		case err == io.EOF:
			s.ended = true
			if len(s.carry) > 0 || s.tooLong {
				if err := s.line(out, nil); err != nil {
					return api.MoreAvailable, err
				}
			}
			return api.MoreAvailable, nil
		case err != nil:
			return api.MoreAvailable, fmt.Errorf("stdin source: reading standard input after line %d: %w", s.lineNo, err)
		}
	}
	return api.MoreAvailable, nil
}

// keep appends the start of a line to carry, up to maxLine bytes.
func (s *StdinSource) keep(part []byte) {
	if s.tooLong {
		return
	}
	s.carry = append(s.carry, part...)
	if len(s.carry) > s.maxLine+1 { // +1: a '\r' that will be dropped
		s.tooLong = true
		s.carry = s.carry[:min(len(s.carry), 1024)]
	}
}

// line emits the line that ends with tail (carried bytes come first).
func (s *StdinSource) line(out api.SourceContext, tail []byte) error {
	s.lineNo++
	line := tail
	if len(s.carry) > 0 || s.tooLong {
		s.keep(tail)
		line = s.carry
	}
	defer func() { s.carry, s.tooLong = s.carry[:0], false }()
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if s.tooLong || len(line) > s.maxLine {
		bad := fmt.Errorf("%w: line longer than max-line-size (%d bytes)", onerror.ErrMalformed, s.maxLine)
		return s.emitter.Bad("stdin", s.lineNo, line[:min(len(line), 1024)], bad)
	}
	return s.emitter.Emit(out, "stdin", s.lineNo, line)
}

// Close stops the reader goroutine and closes the dead-letter output. When
// the input supports read deadlines (pipes), a blocked read is interrupted
// and Close waits for the goroutine to exit.
func (s *StdinSource) Close() error {
	if s.done == nil {
		return nil
	}
	close(s.done)
	if f, ok := s.in.(*os.File); ok && f.SetReadDeadline(time.Now()) == nil {
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
		}
		f.SetReadDeadline(time.Time{}) // leave the file as we found it
	}
	return s.handler.Close()
}
