// Package file is the `file` source and the `file` sink.
//
// The source reads text lines or JSON lines from a file, a directory (its
// regular files, hidden ones and names starting with '_' skipped) or a glob,
// and ends when every file is read. Files ending in .gz are decompressed.
// Subtask i of p reads files i, i+p, ... of the sorted list, so a single file
// is read by one subtask. Missing files are reported when the job is built.
//
//	sources:
//	  - name: clicks
//	    type: file
//	    path: data/clicks-*.jsonl
//	    format: json            # or text (default)
//	    on-error: dead-letter   # fail (default), skip, dead-letter
//	    dead-letter-path: bad-clicks.jsonl
//	    max-line-size: 16MiB    # longer lines are bad records
//
// The sink writes rolling part files into a directory; see Sink.
package file

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/connectors/internal/lines"
	"github.com/freshet/freshet/engine/onerror"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// Register adds the file source and the file sink to r.
func Register(r *registry.Registry) {
	r.AddSource("file", "text or JSON lines from a file, directory or glob (bounded)", BuildSource)
	r.AddSink("file", "rolling part files in a directory, renamed from in-progress names on commit", BuildSink)
}

// BuildSource validates a file source's params and lists its files.
func BuildSource(p *params.Params) (func() (api.Source, error), error) {
	var files []string
	if p.Required("path") {
		path := p.String("path", "")
		var err error
		if files, err = Resolve(path); err != nil {
			p.Errorf("path", "%v", err)
		}
	}
	format := lines.ParseFormat(p)
	policy := onerror.FromParams(p, "")
	maxLine := p.Size("max-line-size", 16<<20)
	if maxLine < 1 {
		p.Errorf("max-line-size", "must be positive")
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return func() (api.Source, error) {
		return &Source{files: files, format: format, policy: policy, maxLine: int(maxLine)}, nil
	}, nil
}

// ErrNoFiles is the category of a path that names no readable file.
var ErrNoFiles = errors.New("no input files")

// Resolve lists the files path names, sorted: the file itself, the regular
// files of a directory (not hidden ones, nor names starting with '_'), or
// the matches of a glob.
func Resolve(path string) ([]string, error) {
	if strings.TrimSpace(path) == "" {
		return nil, fmt.Errorf("%w: path is empty", ErrNoFiles)
	}
	if strings.ContainsAny(path, "*?[") {
		matches, err := filepath.Glob(path)
		if err != nil {
			return nil, fmt.Errorf("bad glob %q: %w", path, err)
		}
		var files []string
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
				files = append(files, m)
			}
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%w: no file matches %q", ErrNoFiles, path)
		}
		return files, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist", ErrNoFiles, path)
		}
		return nil, err
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", path, err)
	}
	var files []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), "_") {
			continue
		}
		if fi, err := os.Stat(filepath.Join(path, e.Name())); err == nil && fi.Mode().IsRegular() {
			files = append(files, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: directory %s has no files", ErrNoFiles, path)
	}
	return files, nil
}

// Source is one subtask of a file source.
type Source struct {
	files   []string // every file of the source, sorted
	format  lines.Format
	policy  onerror.Policy
	maxLine int

	mine    []string // this subtask's files
	next    int      // index in mine of the next file to open
	name    string   // the file being read
	f       *os.File
	gz      *gzip.Reader
	rd      *bufio.Reader
	lineNo  int64
	long    []byte
	emitter lines.Emitter
	handler *onerror.Handler

	restored bool
	skip     map[string]int64 // lines already read, per restored file
}

// Open picks the subtask's files and checks they still exist.
func (s *Source) Open(ctx api.Context) error {
	i, p := ctx.Subtask(), ctx.Parallelism()
	if !s.restored {
		for j := i; j < len(s.files); j += p {
			s.mine = append(s.mine, s.files[j])
		}
	}
	for _, f := range s.mine {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("file source %q: %w", ctx.OperatorName(), err)
		}
	}
	h, err := s.policy.NewHandler(ctx)
	if err != nil {
		return err
	}
	s.handler = h
	s.emitter = lines.Emitter{Format: s.format, Handler: h}
	s.rd = bufio.NewReaderSize(nil, 64<<10)
	s.f = nil
	return nil
}

func (s *Source) openNext() error {
	s.name = s.mine[s.next]
	s.next++
	f, err := os.Open(s.name)
	if err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	s.f, s.lineNo = f, 0
	var r io.Reader = f
	if strings.HasSuffix(s.name, ".gz") {
		if s.gz == nil {
			s.gz, err = gzip.NewReader(f)
		} else {
			err = s.gz.Reset(f)
		}
		if err != nil {
			f.Close()
			s.f = nil
			return fmt.Errorf("file source: reading %s: %w", s.name, err)
		}
		r = s.gz
	}
	s.rd.Reset(r)
	// A file restored from a checkpoint continues after the lines read before.
	for s.lineNo < s.skip[s.name] {
		_, found, _, err := s.readLine()
		if !found {
			return fmt.Errorf("file source: %s has %d lines, fewer than the %d the checkpoint says were read (was it changed?)", s.name, s.lineNo, s.skip[s.name])
		}
		s.lineNo++
		if err != nil && err != io.EOF {
			return fmt.Errorf("file source: reading %s: %w", s.name, err)
		}
	}
	return nil
}

// SnapshotState records each unfinished file of the subtask with the number
// of lines already read, so a restore (at any parallelism) reads exactly the
// rest.
func (s *Source) SnapshotState(int64) ([][]byte, error) {
	out := [][]byte{}
	add := func(name string, line int64) {
		e := []byte(name)
		n := len(e)
		e = binary.AppendVarint(e, line)
		out = append(out, append(e, byte(len(e)-n)))
	}
	if s.f != nil {
		add(s.name, s.lineNo)
	}
	for _, name := range s.mine[s.next:] {
		add(name, s.skip[name])
	}
	return out, nil
}

// RestoreState takes the files (and lines read) given to this subtask.
func (s *Source) RestoreState(entries [][]byte) error {
	s.restored, s.mine, s.skip = true, nil, map[string]int64{}
	for _, e := range entries {
		// The entry is the name, the line count as a varint, and the
		// varint's length in one last byte.
		if len(e) < 2 {
			return fmt.Errorf("file source: malformed position in the checkpoint")
		}
		k := int(e[len(e)-1])
		if k < 1 || k > binary.MaxVarintLen64 || k+1 > len(e) {
			return fmt.Errorf("file source: malformed position in the checkpoint")
		}
		line, n := binary.Varint(e[len(e)-1-k : len(e)-1])
		if n != k {
			return fmt.Errorf("file source: malformed position in the checkpoint")
		}
		name := string(e[:len(e)-1-k])
		s.mine = append(s.mine, name)
		s.skip[name] = line
	}
	return nil
}

// StateDistribution splits the files over the new subtasks.
func (s *Source) StateDistribution() api.Distribution { return api.SplitDistribution }

func (s *Source) closeFile() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// trimEOL drops a trailing '\n' and then a trailing '\r'.
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// readLine reads the next line and returns it without its line end ('\n'
// or "\r\n"); found is false when the file had no more bytes. At the end of
// the file err is io.EOF, with or without a last, unterminated line. A line
// longer than maxLine is consumed whole, and its first KiB returned with
// tooLong.
func (s *Source) readLine() (line []byte, found, tooLong bool, err error) {
	line, err = s.rd.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		found = len(line) > 0
		line = trimEOL(line)
		if len(line) > s.maxLine {
			return line[:min(len(line), 1024)], found, true, err
		}
		return line, found, false, err
	}
	// Keep at most maxLine+2 bytes (room for "\r\n"): enough to tell
	// whether the line is too long.
	keep := s.maxLine + 2
	s.long = append(s.long[:0], line[:min(len(line), keep)]...)
	for err == bufio.ErrBufferFull {
		line, err = s.rd.ReadSlice('\n')
		if room := keep - len(s.long); room > 0 {
			s.long = append(s.long, line[:min(len(line), room)]...)
		} else {
			tooLong = true
		}
	}
	line = trimEOL(s.long)
	if tooLong || len(line) > s.maxLine {
		return line[:min(len(line), 1024)], true, true, err
	}
	return line, true, false, err
}

// Poll emits up to out.Budget() lines.
func (s *Source) Poll(out api.SourceContext) (api.SourceStatus, error) {
	budget := max(1, out.Budget())
	for n := 0; n < budget; {
		if s.f == nil {
			if s.next == len(s.mine) {
				return api.EndOfInput, nil
			}
			if err := s.openNext(); err != nil {
				return api.MoreAvailable, err
			}
		}
		line, found, tooLong, err := s.readLine()
		eof := err == io.EOF
		switch {
		case err != nil && !eof:
			return api.MoreAvailable, fmt.Errorf("file source: reading %s after line %d: %w", s.name, s.lineNo, err)
		case !found:
		case tooLong:
			s.lineNo++
			n++
			bad := fmt.Errorf("%w: line longer than max-line-size (%d bytes)", onerror.ErrMalformed, s.maxLine)
			if herr := s.emitter.Bad(s.name, s.lineNo, line, bad); herr != nil {
				return api.MoreAvailable, herr
			}
		default:
			s.lineNo++
			n++
			if herr := s.emitter.Emit(out, s.name, s.lineNo, line); herr != nil {
				return api.MoreAvailable, herr
			}
		}
		if eof {
			if err := s.closeFile(); err != nil {
				return api.MoreAvailable, fmt.Errorf("file source: closing %s: %w", s.name, err)
			}
		}
	}
	return api.MoreAvailable, nil
}

// Close closes the open file and the dead-letter output.
func (s *Source) Close() error {
	return errors.Join(s.closeFile(), s.handler.Close())
}
