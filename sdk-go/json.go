package freshet

import (
	"errors"
	"unicode/utf8"
)

// Small JSON helpers that work on bytes without allocating per call: enough
// to pull a field out of a record and to write JSON strings. For anything
// bigger, encoding/json works in a guest too (at the cost of allocations).

// JSON errors.
var (
	// ErrJSONInvalid: the document is not valid JSON (RFC 8259; nesting
	// deeper than MaxJSONDepth; an unpaired surrogate escape).
	ErrJSONInvalid = errors.New("invalid json")
	// ErrJSONNotFound: a member of the path is missing.
	ErrJSONNotFound = errors.New("field not found")
	// ErrJSONNotObject: a path component was applied to a value that is not
	// an object.
	ErrJSONNotObject = errors.New("not an object")
)

// MaxJSONDepth is the deepest nesting of arrays and objects JSONField accepts.
const MaxJSONDepth = 512

// JSONField validates the whole document and returns the raw bytes of the
// value at path (object member names; the first member with a matching
// name wins, names compared after unescaping). The result is a view of doc
// without surrounding whitespace: a string keeps its quotes (see
// JSONUnquote). With an empty path it returns the whole value.
func JSONField(doc []byte, path ...string) ([]byte, error) {
	s := jsonScanner{b: doc, path: path}
	s.ws()
	if err := s.value(0, 0); err != nil {
		return nil, err
	}
	s.ws()
	switch {
	case s.i != len(s.b):
		return nil, ErrJSONInvalid
	case s.notObject:
		return nil, ErrJSONNotObject
	case !s.found:
		return nil, ErrJSONNotFound
	}
	return doc[s.start:s.end:s.end], nil
}

// JSONUnquote appends the contents of the JSON string literal raw (quotes
// included) to dst, decoding escapes.
func JSONUnquote(dst, raw []byte) ([]byte, error) {
	s := jsonScanner{b: raw}
	out, err := s.str(dst)
	if err != nil || s.i != len(raw) {
		return dst, ErrJSONInvalid
	}
	return out, nil
}

// AppendJSONString appends s as a JSON string literal. Control characters
// are escaped; bytes that are not valid UTF-8 become U+FFFD.
func AppendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, "\ufffd"...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}

type jsonScanner struct {
	b          []byte
	i          int
	path       []string
	found      bool
	notObject  bool
	start, end int
	name       []byte
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value parses one value. level is how many path components lead to it, or
// -1 when it is off the path.
func (s *jsonScanner) value(level, depth int) error {
	if s.i >= len(s.b) {
		return ErrJSONInvalid
	}
	start := s.i
	onPath := level >= 0 && level < len(s.path)
	c := s.b[s.i]
	if onPath && c != '{' {
		s.notObject = true
		onPath = false
	}
	var err error
	switch {
	case c == '{':
		err = s.object(level, onPath, depth+1)
	case c == '[':
		err = s.array(depth + 1)
	case c == '"':
		_, err = s.str(nil)
	case c == '-' || c >= '0' && c <= '9':
		err = s.number()
	case c == 't':
		err = s.literal("true")
	case c == 'f':
		err = s.literal("false")
	case c == 'n':
		err = s.literal("null")
	default:
		err = ErrJSONInvalid
	}
	if err != nil {
		return err
	}
	if level == len(s.path) && !s.found {
		s.found, s.start, s.end = true, start, s.i
	}
	return nil
}

func (s *jsonScanner) object(level int, onPath bool, depth int) error {
	if depth > MaxJSONDepth {
		return ErrJSONInvalid
	}
	s.i++ // {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	matched := false
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return ErrJSONInvalid
		}
		var err error
		s.name, err = s.str(s.name[:0])
		if err != nil {
			return err
		}
		child := -1
		if onPath && !matched && string(s.name) == s.path[level] {
			matched, child = true, level+1
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return ErrJSONInvalid
		}
		s.i++
		s.ws()
		if err := s.value(child, depth); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return ErrJSONInvalid
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return ErrJSONInvalid
		}
	}
}

func (s *jsonScanner) array(depth int) error {
	if depth > MaxJSONDepth {
		return ErrJSONInvalid
	}
	s.i++ // [
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if err := s.value(-1, depth); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return ErrJSONInvalid
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return ErrJSONInvalid
		}
	}
}

func (s *jsonScanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return ErrJSONInvalid
	}
	s.i += len(lit)
	return nil
}

func (s *jsonScanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *jsonScanner) number() error {
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return ErrJSONInvalid
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return ErrJSONInvalid
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return ErrJSONInvalid
		}
	}
	return nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// str parses a string literal at s.i, appending its decoded contents to dst.
func (s *jsonScanner) str(dst []byte) ([]byte, error) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return dst, ErrJSONInvalid
	}
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return dst, nil
		case c < 0x20:
			return dst, ErrJSONInvalid
		case c != '\\':
			dst = append(dst, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return dst, ErrJSONInvalid
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s.b[s.i:])
			if !ok {
				return dst, ErrJSONInvalid
			}
			s.i += 4
			switch {
			case r >= 0xdc00 && r <= 0xdfff:
				return dst, ErrJSONInvalid // lone low surrogate
			case r >= 0xd800 && r <= 0xdbff:
				if s.i+6 > len(s.b) || s.b[s.i] != '\\' || s.b[s.i+1] != 'u' {
					return dst, ErrJSONInvalid
				}
				lo, ok := hex4(s.b[s.i+2:])
				if !ok || lo < 0xdc00 || lo > 0xdfff {
					return dst, ErrJSONInvalid
				}
				s.i += 6
				r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, ErrJSONInvalid
		}
	}
	return dst, ErrJSONInvalid
}
