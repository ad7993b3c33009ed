// Command window-stats is the reference "stats" window aggregate
// (plugins/README.md): count, sum and max of decimal integers.
package main

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"

	freshet "github.com/freshet/freshet/sdk-go"
)

type stats struct{}

var errValue = errors.New("value is not a decimal integer")

func decode(acc []byte) (count, sum, max int64, err error) {
	if len(acc) != 24 {
		return 0, 0, 0, errors.New("accumulator is not 24 bytes")
	}
	return int64(binary.LittleEndian.Uint64(acc)), int64(binary.LittleEndian.Uint64(acc[8:])), int64(binary.LittleEndian.Uint64(acc[16:])), nil
}

func encode(dst []byte, count, sum, max int64) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(count))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(sum))
	return binary.LittleEndian.AppendUint64(dst, uint64(max))
}

func (stats) CreateAccumulator(dst []byte) []byte { return encode(dst, 0, 0, math.MinInt64) }

func (stats) Add(acc, value, dst []byte) ([]byte, error) {
	c, s, m, err := decode(acc)
	if err != nil {
		return nil, err
	}
	v, ok := decimal(value)
	if !ok {
		return nil, errValue
	}
	return encode(dst, c+1, s+v, max(m, v)), nil
}

func (stats) Merge(a, b, dst []byte) ([]byte, error) {
	c1, s1, m1, err := decode(a)
	if err != nil {
		return nil, err
	}
	c2, s2, m2, err := decode(b)
	if err != nil {
		return nil, err
	}
	return encode(dst, c1+c2, s1+s2, max(m1, m2)), nil
}

func (stats) Result(acc, dst []byte) ([]byte, error) {
	c, s, m, err := decode(acc)
	if err != nil {
		return nil, err
	}
	dst = strconv.AppendInt(dst, c, 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, s, 10)
	dst = append(dst, ',')
	if c > 0 {
		dst = strconv.AppendInt(dst, m, 10)
	}
	return dst, nil
}

func decimal(b []byte) (int64, bool) {
	d := b
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 19 {
		return 0, false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

func init() { freshet.Aggregate("stats", stats{}) }

func main() {}
