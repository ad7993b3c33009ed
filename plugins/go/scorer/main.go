// Command scorer is the Go twin of plugins/rust/scorer: a keyed process
// function built in several versions for hot-swap tests and benchmarks. It
// counts records per key in keyed state and emits
// `<version>,<key>,<count>,<score>`, where the score is the record's integer
// value, doubled from version v2 on (a "changed formula"). The version is
// fixed at build time:
//
//	go build -ldflags "-X main.version=v2" ...
//
// plugins/Makefile builds scorer-v1.wasm and scorer-v2.wasm into
// plugins/build/go.
package main

import (
	"errors"
	"strconv"

	freshet "github.com/freshet/freshet/sdk-go"
)

// version is this build's version, set with -ldflags "-X main.version=...".
var version = "v1"

var (
	count = freshet.NewValueState("count")
	out   []byte
)

// errNotInteger is returned for a record whose value is not a decimal integer.
var errNotInteger = errors.New("not an integer")

type scorer struct{}

func (scorer) ProcessElement(c *freshet.Context, r *freshet.Record) error {
	value, ok := parseInt(r.Value)
	if !ok {
		return errNotInteger
	}
	n, _, err := count.GetInt64()
	if err != nil {
		return err
	}
	n++
	if err := count.PutInt64(n); err != nil {
		return err
	}
	score := value
	if version != "v1" {
		score = value * 2
	}
	out = append(out[:0], version...)
	out = append(out, ',')
	out = append(out, r.Key...)
	out = append(out, ',')
	out = strconv.AppendInt(out, n, 10)
	out = append(out, ',')
	out = strconv.AppendInt(out, score, 10)
	c.EmitAt(r.Key, out, r.Timestamp)
	return nil
}

func (scorer) OnTimer(*freshet.Context, freshet.Timer) error { return nil }

// parseInt parses an optional '-' and 1-18 decimal digits without
// allocating (strconv.ParseInt would need a string).
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

func init() { freshet.Process("score", scorer{}) }

func main() {}
