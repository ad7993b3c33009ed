// Command kitchen is a test guest with one function of every kind, plus
// misbehaving ones, for the host's tests.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	freshet "github.com/freshet/freshet/sdk-go"
)

var (
	count    = freshet.NewValueState("count")
	seen     = freshet.NewListState("seen")
	byWord   = freshet.NewMapState("by-word")
	records  = freshet.NewCounter("records")
	suffix   []byte
	hog      [][]byte
	spinSink int
	upperBuf []byte
)

func init() {
	freshet.Map("upper", func(c *freshet.Context, r *freshet.Record) ([]byte, error) {
		records.Add(1)
		upperBuf = upperBuf[:0]
		for _, b := range r.Value {
			if b >= 'a' && b <= 'z' {
				b -= 'a' - 'A'
			}
			upperBuf = append(upperBuf, b)
		}
		return append(upperBuf, suffix...), nil
	}, freshet.OnOpen(func(config []byte) error {
		var cfg struct {
			Suffix string `json:"suffix"`
		}
		if err := json.Unmarshal(config, &cfg); err != nil {
			return err
		}
		if cfg.Suffix == "refuse" {
			return errors.New("suffix refused")
		}
		suffix = []byte(cfg.Suffix)
		return nil
	}))
	freshet.Map("identity", func(c *freshet.Context, r *freshet.Record) ([]byte, error) { return r.Value, nil })
	freshet.Map("fail", func(c *freshet.Context, r *freshet.Record) ([]byte, error) {
		if string(r.Value) == "bad" {
			return nil, fmt.Errorf("cannot handle %q", r.Value)
		}
		return r.Value, nil
	})
	freshet.Map("sideout", func(c *freshet.Context, r *freshet.Record) ([]byte, error) {
		if err := c.EmitSide("copies", r.Key, r.Value); err != nil {
			return nil, err
		}
		return r.Value, nil
	})
	freshet.Map("spin", func(c *freshet.Context, r *freshet.Record) ([]byte, error) {
		for string(r.Value) == "spin" {
			spinSink++
		}
		return r.Value, nil
	})
	freshet.Map("grow", func(c *freshet.Context, r *freshet.Record) ([]byte, error) {
		for string(r.Value) == "grow" {
			hog = append(hog, make([]byte, 1<<20))
		}
		return r.Value, nil
	})
	freshet.Map("panic", func(c *freshet.Context, r *freshet.Record) ([]byte, error) {
		if string(r.Value) == "panic" {
			panic("kitchen: asked to panic")
		}
		return r.Value, nil
	})
	freshet.Filter("nonempty", func(c *freshet.Context, r *freshet.Record) (bool, error) { return len(r.Value) > 0, nil })
	freshet.FlatMap("split", func(c *freshet.Context, r *freshet.Record) error {
		for _, w := range bytes.Fields(r.Value) {
			c.Emit(w, w)
		}
		return nil
	})
	freshet.FlatMap("big", func(c *freshet.Context, r *freshet.Record) error {
		n, err := strconv.Atoi(string(r.Value))
		if err != nil {
			return err
		}
		c.Emit(r.Key, bytes.Repeat([]byte{'x'}, n))
		return nil
	})
	freshet.FlatMap("headers", func(c *freshet.Context, r *freshet.Record) error {
		var hs []freshet.Header
		for k, v := range r.Headers() {
			hs = append(hs, freshet.Header{Key: v, Value: k}) // swapped
		}
		c.EmitWithHeaders(r.Key, r.Value, r.Timestamp+1, hs...)
		return nil
	})
	freshet.KeySelector("firstword", func(c *freshet.Context, r *freshet.Record) ([]byte, error) {
		f := bytes.Fields(r.Value)
		if len(f) == 0 {
			return nil, errors.New("empty value")
		}
		return f[0], nil
	})
	freshet.Deserializer("csv", func(c *freshet.Context, r *freshet.Record) error {
		for _, line := range bytes.Split(r.Value, []byte("\n")) {
			k, v, ok := bytes.Cut(line, []byte(","))
			if !ok {
				continue
			}
			c.Emit(k, v)
		}
		return nil
	})
	freshet.Process("counter", freshet.ProcessFuncs{
		ProcessElementFn: func(c *freshet.Context, r *freshet.Record) error {
			n, _, err := count.GetInt64()
			if err != nil {
				return err
			}
			n++
			if err := count.PutInt64(n); err != nil {
				return err
			}
			if err := c.RegisterEventTimer(r.Timestamp + 100); err != nil {
				return err
			}
			c.Emit(r.Key, []byte(strconv.FormatInt(n, 10)))
			return nil
		},
		OnTimerFn: func(c *freshet.Context, t freshet.Timer) error {
			n, _, err := count.GetInt64()
			if err != nil {
				return err
			}
			c.EmitAt(t.Key, []byte("timer "+strconv.FormatInt(n, 10)), t.Timestamp)
			return count.Clear()
		},
	})
	freshet.Process("collections", freshet.ProcessFuncs{ProcessElementFn: func(c *freshet.Context, r *freshet.Record) error {
		if err := seen.Add(r.Value); err != nil {
			return err
		}
		items, err := seen.Get()
		if err != nil {
			return err
		}
		n := []byte{0}
		if v, ok, err := byWord.Get(r.Value); err != nil {
			return err
		} else if ok {
			n[0] = v[0]
		}
		n[0]++
		if err := byWord.Put(r.Value, n); err != nil {
			return err
		}
		all, err := byWord.All()
		if err != nil {
			return err
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "list=%d map=", len(items))
		for k, v := range all {
			fmt.Fprintf(&b, "%s:%d,", k, v[0])
		}
		c.Emit(r.Key, b.Bytes())
		return nil
	}})
	// One state read and one state write per record (benchmarks).
	freshet.Process("rw", freshet.ProcessFuncs{ProcessElementFn: func(c *freshet.Context, r *freshet.Record) error {
		n, _, err := count.GetInt64()
		if err != nil {
			return err
		}
		return count.PutInt64(n + 1)
	}})
	freshet.Process("stateless-misuse", freshet.ProcessFuncs{ProcessElementFn: func(c *freshet.Context, r *freshet.Record) error {
		return nil
	}})
	freshet.Aggregate("sum", sum{})
	freshet.ProcessWindow("concat", func(c *freshet.Context, key []byte, w freshet.Window, elems []freshet.Record) error {
		var b bytes.Buffer
		fmt.Fprintf(&b, "%s [%d,%d):", key, w.Start, w.End)
		for _, e := range elems {
			b.WriteByte(' ')
			b.Write(e.Value)
		}
		c.EmitAt(key, b.Bytes(), w.MaxTimestamp())
		return nil
	})
	// What the sandbox lets a guest see.
	freshet.Map("sandbox", func(c *freshet.Context, r *freshet.Record) ([]byte, error) {
		_, ferr := os.ReadFile("/etc/passwd")
		_, derr := os.ReadDir("/")
		return fmt.Appendf(nil, "file=%v dir=%v env=%q args=%d time=%d", ferr != nil, derr != nil, os.Getenv("HOME"), len(os.Args), time.Now().UnixMilli()), nil
	})
	// A map that uses keyed state: not allowed outside keyed operators.
	freshet.Map("state-in-map", func(c *freshet.Context, r *freshet.Record) ([]byte, error) {
		if _, _, err := count.Get(); err != nil {
			return nil, err
		}
		return r.Value, nil
	})
}

type sum struct{}

func (sum) CreateAccumulator(dst []byte) []byte { return binary.LittleEndian.AppendUint64(dst, 0) }

func (sum) Add(acc, v, dst []byte) ([]byte, error) {
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return nil, err
	}
	return binary.LittleEndian.AppendUint64(dst, binary.LittleEndian.Uint64(acc)+uint64(n)), nil
}

func (sum) Merge(a, b, dst []byte) ([]byte, error) {
	return binary.LittleEndian.AppendUint64(dst, binary.LittleEndian.Uint64(a)+binary.LittleEndian.Uint64(b)), nil
}

func (sum) Result(acc, dst []byte) ([]byte, error) {
	return strconv.AppendInt(dst, int64(binary.LittleEndian.Uint64(acc)), 10), nil
}

func main() {}
