// Package recfmt writes records as lines of text for the line-oriented sinks
// (stdout, file), in one of three formats chosen by the sink's `format`
// field:
//
//	value      the value as it is
//	key-value  the key, a tab, the value
//	json       {"key":"k","value":<v>,"timestamp":1700000000000}
//
// In json, value is embedded as is when it is valid JSON and written as a
// string otherwise; key (a string) is left out when empty and timestamp when
// the record has none. Values that contain newlines break the
// one-line-per-record shape of value and key-value; use json for those.
package recfmt

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/freshet/freshet/engine/api"
	"github.com/freshet/freshet/engine/params"
)

// Format is a line format.
type Format uint8

const (
	Value Format = iota
	KeyValue
	JSON
)

// ParseFormat reads the `format` field (value, key-value or json; default value).
func ParseFormat(p *params.Params) Format {
	switch p.Enum("format", "value", "value", "key-value", "json") {
	case "key-value":
		return KeyValue
	case "json":
		return JSON
	}
	return Value
}

// Append appends r as one line, newline included.
func Append(dst []byte, f Format, r *api.Record) []byte {
	switch f {
	case KeyValue:
		dst = append(dst, r.Key...)
		dst = append(dst, '\t')
		dst = append(dst, r.Value...)
	case JSON:
		dst = append(dst, '{')
		sep := false
		if len(r.Key) > 0 {
			dst = append(dst, `"key":`...)
			dst = AppendString(dst, r.Key)
			sep = true
		}
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"value":`...)
		if len(r.Value) > 0 && json.Valid(r.Value) {
			dst = append(dst, r.Value...)
		} else {
			dst = AppendString(dst, r.Value)
		}
		if r.HasTimestamp() {
			dst = append(dst, `,"timestamp":`...)
			dst = strconv.AppendInt(dst, r.Timestamp, 10)
		}
		dst = append(dst, '}')
	default:
		dst = append(dst, r.Value...)
	}
	return append(dst, '\n')
}

// AppendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func AppendString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
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
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
