package jobspec

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/freshet/freshet/engine/params"
)

// ErrInvalid is matched (errors.Is) by every error that reports a mistake in
// a job file or in overrides: YAML syntax, unknown fields, bad values, a
// broken graph.
var ErrInvalid = errors.New("invalid job spec")

// ErrSyntax is matched by errors for files that are not well-formed YAML.
// Such errors also match ErrInvalid.
var ErrSyntax = errors.New("invalid YAML")

// SyntaxError is a YAML syntax error. Line is the line yaml.v3 reported, or
// the first line at which a prefix of the file fails the same way, and 0 when
// neither is known.
type SyntaxError struct {
	File string
	Line int
	Col  int // 0 when unknown
	Msg  string
}

func (e *SyntaxError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": invalid YAML: ")
	b.WriteString(e.Msg)
	return b.String()
}

// Is makes a SyntaxError match ErrSyntax and ErrInvalid.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax || target == ErrInvalid }

// ErrorList is every problem found in a job file (or its overrides), sorted
// by position. Each element is a *params.Error or a *SyntaxError; its Error
// text has one problem per line.
type ErrorList []error

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap gives errors.As access to each problem.
func (l ErrorList) Unwrap() []error { return l }

// Is makes an ErrorList match ErrInvalid.
func (l ErrorList) Is(target error) bool { return target == ErrInvalid }

// collector gathers problems while a file is decoded and validated.
type collector struct {
	errs []error
}

func (c *collector) add(pos params.Pos, field, format string, args ...any) {
	c.errs = append(c.errs, &params.Error{Pos: pos, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// addErr adds err, flattening joined errors so each problem sorts on its own.
func (c *collector) addErr(err error) {
	if err == nil {
		return
	}
	if isLeaf(err) {
		c.errs = append(c.errs, err)
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			c.addErr(e)
		}
		return
	}
	c.errs = append(c.errs, err)
}

func isLeaf(err error) bool {
	switch err.(type) {
	case *params.Error, *SyntaxError:
		return true
	}
	return false
}

// err returns the problems as a sorted ErrorList, or nil.
func (c *collector) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	l := ErrorList(slices.Clone(c.errs))
	slices.SortStableFunc(l, func(a, b error) int {
		pa, pb := posOf(a), posOf(b)
		// Positions in the file come first, in file order; then overrides and
		// problems without a position, in the order they were found.
		if (pa.Line == 0) != (pb.Line == 0) {
			if pa.Line == 0 {
				return 1
			}
			return -1
		}
		if pa.Line != pb.Line {
			return pa.Line - pb.Line
		}
		return pa.Col - pb.Col
	})
	return dedupe(l)
}

func dedupe(l ErrorList) ErrorList {
	out := l[:0]
	for i, e := range l {
		if i > 0 && e.Error() == l[i-1].Error() {
			continue
		}
		out = append(out, e)
	}
	return out
}

func posOf(err error) params.Pos {
	var pe *params.Error
	if errors.As(err, &pe) {
		return pe.Pos
	}
	var se *SyntaxError
	if errors.As(err, &se) {
		return params.Pos{File: se.File, Line: se.Line, Col: se.Col}
	}
	return params.Pos{}
}
