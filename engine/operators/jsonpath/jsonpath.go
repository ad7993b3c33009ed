// Package jsonpath owns the field paths that job files use to address a value
// inside a JSON record ("user.id", "items[0].price", `"a.b".c`), and the
// allocation-free lookups and JSON text helpers the built-in operators and key
// selectors run per record.
//
// It is the only package of the engine that imports the JSON library
// (github.com/buger/jsonparser): swapping the library touches this file only.
//
// Lookups do not validate the whole document; they scan it just far enough to
// find the value, so a malformed record may yield "not found" rather than an
// error. Returned slices are views of the document.
package jsonpath

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/buger/jsonparser"
)

// ErrSyntax is wrapped by Parse errors.
var ErrSyntax = errors.New("invalid field path")

// Path is a parsed field path. The zero Path addresses the whole document.
type Path struct {
	text string
	keys []string // in jsonparser form: object keys as is, indexes as "[N]"
	last string   // the last object key
}

// Parse parses a field path:
//
//	user.id          object key "id" inside object key "user"
//	items[0].price   element 0 of array "items", then key "price"
//	"a.b".c          a quoted key (JSON string syntax) may hold dots or brackets
//	$ or $.user.id   "$" is the whole document; "$." may prefix any path
func Parse(s string) (Path, error) {
	p := Path{text: s}
	rest := s
	switch {
	case s == "":
		return Path{}, fmt.Errorf("%w: empty path", ErrSyntax)
	case s == "$":
		return p, nil
	case strings.HasPrefix(s, "$."):
		rest = s[2:]
	case strings.HasPrefix(s, "$["):
		rest = s[1:]
	}
	bad := func(why string) (Path, error) {
		return Path{}, fmt.Errorf("%w %q: %s", ErrSyntax, s, why)
	}
	for first := true; ; first = false {
		if rest == "" {
			return bad("ends with '.'")
		}
		switch rest[0] {
		case '"':
			end := quotedEnd(rest)
			if end < 0 {
				return bad("unterminated quoted key")
			}
			key, err := strconv.Unquote(rest[:end])
			if err != nil {
				return bad("invalid quoted key " + rest[:end])
			}
			p.keys = append(p.keys, key)
			p.last = key
			rest = rest[end:]
		case '[':
			if !first {
				return bad("'[' must follow a key")
			}
		case '.':
			return bad("empty key")
		default:
			i := strings.IndexAny(rest, ".[]\"")
			if i < 0 {
				i = len(rest)
			}
			if i < len(rest) && (rest[i] == ']' || rest[i] == '"') {
				return bad(fmt.Sprintf("unexpected %q in a key (quote keys that contain it)", rest[i]))
			}
			p.keys = append(p.keys, rest[:i])
			p.last = rest[:i]
			rest = rest[i:]
		}
		for strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return bad("missing ']'")
			}
			idx := rest[1:end]
			if n, err := strconv.Atoi(idx); err != nil || n < 0 || idx != strconv.Itoa(n) {
				return bad(fmt.Sprintf("array index %q is not a non-negative integer", idx))
			}
			p.keys = append(p.keys, rest[:end+1])
			rest = rest[end+1:]
		}
		if rest == "" {
			return p, nil
		}
		if rest[0] != '.' {
			return bad(fmt.Sprintf("unexpected %q after a key", rest[0]))
		}
		rest = rest[1:]
	}
}

// quotedEnd returns the index just past the closing quote of the JSON string
// at the start of s, or -1.
func quotedEnd(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// MustParse is Parse for paths written in Go code; it panics on a bad path.
func MustParse(s string) Path {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the path as written.
func (p Path) String() string {
	if p.text == "" {
		return "$"
	}
	return p.text
}

// IsRoot reports whether p addresses the whole document.
func (p Path) IsRoot() bool { return len(p.keys) == 0 }

// Last is the path's last object key, a natural field name when projecting
// ("price" for items[0].price); "" for the root or a path of indexes only.
func (p Path) Last() string { return p.last }

// Kind is the JSON type of a value.
type Kind uint8

const (
	Missing Kind = iota
	String
	Number
	Bool
	Null
	Object
	Array
)

func (k Kind) String() string {
	switch k {
	case String:
		return "string"
	case Number:
		return "number"
	case Bool:
		return "boolean"
	case Null:
		return "null"
	case Object:
		return "object"
	case Array:
		return "array"
	}
	return "missing"
}

// Get finds p in doc. It returns the value's bytes (for a string, its
// contents between the quotes, still escaped) and its kind; Missing when the
// path is absent or doc is not JSON there.
func (p Path) Get(doc []byte) ([]byte, Kind) {
	if len(p.keys) == 1 && !strings.HasPrefix(p.keys[0], "[") {
		if v, k, ok := getMember(doc, p.keys[0]); ok {
			return v, k
		}
	}
	return p.get(doc)
}

// get is Get through jsonparser.
func (p Path) get(doc []byte) ([]byte, Kind) {
	v, t, _, err := jsonparser.Get(doc, p.keys...)
	if err != nil {
		return nil, Missing
	}
	switch t {
	case jsonparser.String:
		return v, String
	case jsonparser.Number:
		return v, Number
	case jsonparser.Boolean:
		return v, Bool
	case jsonparser.Null:
		return v, Null
	case jsonparser.Object:
		return v, Object
	case jsonparser.Array:
		return v, Array
	}
	return nil, Missing
}

// getMember looks key up among the members of the object doc: a path of
// one object key, the most common (a record's field), found by a plain
// scan of the members instead of jsonparser's general path search, which
// costs about twice as much. Like jsonparser it takes the first member of
// that name. It gives up (ok false), leaving the lookup to jsonparser, on
// anything it does not expect: a document that is not an object, a key
// with an escape, a value that is not well formed.
func getMember(doc []byte, key string) (v []byte, k Kind, ok bool) {
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return nil, Missing, false
	}
	i++
	for {
		i = skipSpace(doc, i)
		if i >= len(doc) {
			return nil, Missing, false
		}
		if doc[i] == '}' {
			return nil, Missing, true
		}
		if doc[i] != '"' {
			return nil, Missing, false
		}
		j := i + 1
		for j < len(doc) && doc[j] != '"' {
			if doc[j] == '\\' {
				return nil, Missing, false
			}
			j++
		}
		if j >= len(doc) {
			return nil, Missing, false
		}
		name := doc[i+1 : j]
		if i = skipSpace(doc, j+1); i >= len(doc) || doc[i] != ':' {
			return nil, Missing, false
		}
		if i = skipSpace(doc, i+1); i >= len(doc) {
			return nil, Missing, false
		}
		end, kind := skipValue(doc, i)
		if kind == Missing {
			return nil, Missing, false
		}
		if string(name) == key {
			if kind == String {
				return doc[i+1 : end-1], String, true
			}
			return doc[i:end], kind, true
		}
		if i = skipSpace(doc, end); i >= len(doc) {
			return nil, Missing, false
		}
		switch doc[i] {
		case ',':
			i++
		case '}':
			return nil, Missing, true
		default:
			return nil, Missing, false
		}
	}
}

func skipSpace(doc []byte, i int) int {
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\n' || doc[i] == '\r' || doc[i] == '\t') {
		i++
	}
	return i
}

// skipValue returns the end of the value at doc[i] and its kind; Missing
// when it is not one getMember is sure of.
func skipValue(doc []byte, i int) (int, Kind) {
	switch c := doc[i]; {
	case c == '"':
		for j := i + 1; j < len(doc); j++ {
			switch doc[j] {
			case '\\':
				j++
			case '"':
				return j + 1, String
			}
		}
	case c == '{' || c == '[':
		var open [32]byte // the brackets open, innermost last
		depth := 0
		for j := i; j < len(doc); j++ {
			switch b := doc[j]; b {
			case '"':
				end, k := skipValue(doc, j)
				if k == Missing {
					return 0, Missing
				}
				j = end - 1
			case '{', '[':
				if depth == len(open) {
					return 0, Missing
				}
				open[depth] = b
				depth++
			case '}', ']':
				if depth--; open[depth] != b-2 { // '{'+2 == '}', '['+2 == ']'
					return 0, Missing
				}
				if depth == 0 {
					if c == '{' {
						return j + 1, Object
					}
					return j + 1, Array
				}
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		j := i + 1
		for j < len(doc) && (doc[j] >= '0' && doc[j] <= '9' || doc[j] == '.' || doc[j] == 'e' || doc[j] == 'E' || doc[j] == '+' || doc[j] == '-') {
			j++
		}
		if j == len(doc) || isDelim(doc[j]) {
			return j, Number
		}
	default:
		for _, lit := range [...]struct {
			text string
			kind Kind
		}{{"true", Bool}, {"false", Bool}, {"null", Null}} {
			if n := len(lit.text); len(doc)-i >= n && string(doc[i:i+n]) == lit.text && (len(doc) == i+n || isDelim(doc[i+n])) {
				return i + n, lit.kind
			}
		}
	}
	return 0, Missing
}

func isDelim(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\r' || c == '\t'
}

// AppendText appends v as text: a string unescaped, any other kind as its
// JSON text. It fails only on a string with a malformed escape.
func AppendText(dst, v []byte, k Kind) ([]byte, error) {
	if k != String {
		return append(dst, v...), nil
	}
	return AppendUnescaped(dst, v)
}

// AppendJSON appends v as JSON text: a string with its quotes back.
func AppendJSON(dst, v []byte, k Kind) []byte {
	if k == String {
		dst = append(dst, '"')
		dst = append(dst, v...)
		return append(dst, '"')
	}
	return append(dst, v...)
}

// AppendUnescaped appends the JSON string contents s (between the quotes)
// with escapes decoded.
func AppendUnescaped(dst, s []byte) ([]byte, error) {
	if !hasBackslash(s) {
		return append(dst, s...), nil
	}
	n := len(dst)
	dst = grow(dst, len(s))
	out, err := jsonparser.Unescape(s, dst[n:n+len(s)])
	if err != nil {
		return dst[:n], fmt.Errorf("malformed JSON string escape: %w", err)
	}
	return dst[:n+len(out)], nil
}

func hasBackslash(s []byte) bool {
	for _, c := range s {
		if c == '\\' {
			return true
		}
	}
	return false
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), 2*cap(b)+n)
	copy(nb, b)
	return nb
}

// AppendString appends s as a quoted JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
func AppendString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Num is a JSON number: an exact integer when it has no fraction or exponent
// and fits int64, otherwise a float64.
type Num struct {
	Int     int64
	Float   float64
	IsFloat bool
}

// ParseNum parses the text of a number. It accepts what JSON and YAML write
// for finite numbers; NaN and infinities are rejected.
func ParseNum(b []byte) (Num, bool) {
	if len(b) == 0 {
		return Num{}, false
	}
	s := unsafe.String(unsafe.SliceData(b), len(b)) // never retained: errors are discarded
	if isInteger(b) {
		// Checked first: a failed ParseInt allocates its error.
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return Num{Int: i}, true
		}
	}
	c := b[0]
	if c != '-' && c != '+' && c != '.' && (c < '0' || c > '9') {
		return Num{}, false // rejects "Inf", "NaN", "0x1p3"-style hex floats need a digit first anyway
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return Num{}, false
	}
	return Num{Float: f, IsFloat: true}, true
}

func isInteger(b []byte) bool {
	if b[0] == '-' || b[0] == '+' {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// F is n as a float64.
func (n Num) F() float64 {
	if n.IsFloat {
		return n.Float
	}
	return float64(n.Int)
}

// Compare returns -1, 0 or 1 as n is less than, equal to or greater than
// m, exactly when both are integers.
func (n Num) Compare(m Num) int {
	if !n.IsFloat && !m.IsFloat {
		switch {
		case n.Int < m.Int:
			return -1
		case n.Int > m.Int:
			return 1
		}
		return 0
	}
	x, y := n.F(), m.F()
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// Append appends n as JSON number text.
func (n Num) Append(dst []byte) []byte {
	if !n.IsFloat {
		return strconv.AppendInt(dst, n.Int, 10)
	}
	return AppendFloat(dst, n.Float)
}

// AppendFloat appends f the way JavaScript (and encoding/json) prints
// numbers: plain decimals for ordinary magnitudes, an exponent otherwise.
func AppendFloat(dst []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	n := len(dst)
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 -> 1e-7
		if m := len(dst) - n; m >= 4 && dst[len(dst)-4] == 'e' && dst[len(dst)-3] == '-' && dst[len(dst)-2] == '0' {
			dst[len(dst)-2] = dst[len(dst)-1]
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}
