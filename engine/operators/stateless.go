package operators

import (
	"unicode"
	"unicode/utf8"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/params"
	"github.com/freshet/freshet/engine/registry"
)

// stateless wraps the constructor of an operator without state or options.
func stateless(p *params.Params, newOp func() api.Operator) (registry.Operator, error) {
	if err := p.Err(); err != nil {
		return registry.Operator{}, err
	}
	return registry.Operator{New: func() (api.Operator, error) { return newOp(), nil }}, nil
}

// Identity passes every record through unchanged.
type Identity struct{ api.BaseOperator }

func buildIdentity(p *params.Params) (registry.Operator, error) {
	return stateless(p, func() api.Operator { return &Identity{} })
}

func (*Identity) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		out.Emit(&in.Records[i])
	}
	return nil
}

// Uppercase upper-cases the record value. ASCII bytes take a fast path;
// other UTF-8 is mapped rune by rune with unicode.ToUpper, and bytes that are
// not valid UTF-8 are kept as they are.
type Uppercase struct {
	api.BaseOperator
	rec api.Record
	buf []byte
}

func buildUppercase(p *params.Params) (registry.Operator, error) {
	return stateless(p, func() api.Operator { return &Uppercase{} })
}

func (u *Uppercase) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		r := &in.Records[i]
		u.buf = appendUpper(u.buf[:0], r.Value)
		u.rec = *r
		u.rec.Value = u.buf
		out.Emit(&u.rec)
	}
	return nil
}

func appendUpper(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, c)
		} else {
			dst = utf8.AppendRune(dst, unicode.ToUpper(r))
		}
		i += size
	}
	return dst
}

// Tokenize splits the record value into words and emits one record per
// word, keeping the input's key, timestamp and headers. A word is a maximal
// run of Unicode letters, digits and combining marks; everything else
// (spaces, punctuation, invalid UTF-8) separates words.
type Tokenize struct {
	api.BaseOperator
	// Lowercase lower-cases every word (default true).
	Lowercase bool
	// MinLength drops words shorter than this many characters (default 1).
	MinLength int

	rec api.Record
	buf []byte
}

func buildTokenize(p *params.Params) (registry.Operator, error) {
	lower := p.Bool("lowercase", true)
	minLen := int(p.IntRange("min-length", 1, 1, 1<<20))
	return stateless(p, func() api.Operator { return &Tokenize{Lowercase: lower, MinLength: minLen} })
}

// asciiWord marks the ASCII bytes that belong to words.
var asciiWord = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	return t
}()

func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r))
}

func (t *Tokenize) ProcessBatch(in *api.Batch, out api.Output) error {
	for i := range in.Records {
		r := &in.Records[i]
		t.rec = api.Record{Key: r.Key, Timestamp: r.Timestamp, Headers: r.Headers}
		v := r.Value
		for j := 0; j < len(v); {
			// Skip separators.
			if c := v[j]; c < utf8.RuneSelf {
				if !asciiWord[c] {
					j++
					continue
				}
			} else if rr, size := utf8.DecodeRune(v[j:]); !isWordRune(rr) {
				j += size
				continue
			}
			// A word starts at j.
			t.buf = t.buf[:0]
			n := 0
			for j < len(v) {
				c := v[j]
				if c < utf8.RuneSelf {
					if !asciiWord[c] {
						break
					}
					if t.Lowercase && 'A' <= c && c <= 'Z' {
						c += 'a' - 'A'
					}
					t.buf = append(t.buf, c)
					j++
					n++
					continue
				}
				rr, size := utf8.DecodeRune(v[j:])
				if !isWordRune(rr) {
					break
				}
				if t.Lowercase {
					t.buf = utf8.AppendRune(t.buf, unicode.ToLower(rr))
				} else {
					t.buf = append(t.buf, v[j:j+size]...)
				}
				j += size
				n++
			}
			if n >= t.MinLength {
				t.rec.Value = t.buf
				out.Emit(&t.rec)
			}
		}
	}
	return nil
}
