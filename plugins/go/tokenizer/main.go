// Command tokenizer is the reference "tokenize" flat-map (plugins/README.md):
// it splits text into lower-case words, one record per word.
package main

import freshet "github.com/freshet/freshet/sdk-go"

func init() {
	freshet.FlatMap("tokenize", tokenize)
}

// isWordByte reports whether b belongs to a word: ASCII letters and digits,
// and every byte of a multi-byte UTF-8 sequence.
func isWordByte(b byte) bool {
	return b >= 0x80 || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

var word []byte

func tokenize(c *freshet.Context, r *freshet.Record) error {
	v := r.Value
	for i := 0; i < len(v); {
		if !isWordByte(v[i]) {
			i++
			continue
		}
		j := i
		word = word[:0]
		for ; j < len(v) && isWordByte(v[j]); j++ {
			b := v[j]
			if b >= 'A' && b <= 'Z' {
				b += 'a' - 'A'
			}
			word = append(word, b)
		}
		c.Emit(word, word)
		i = j
	}
	return nil
}

func main() {}
