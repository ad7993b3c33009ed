// Command guest is the test guest of package spec: one small function per
// thing a spec can check (outputs, side outputs, headers, counters, every
// kind of keyed state, both timer domains, errors and traps, aggregates,
// key selectors), built with the Go SDK.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"

	freshet "github.com/freshet/freshet/sdk-go"
)

var (
	seen    = freshet.NewCounter("seen")
	count   = freshet.NewValueState("count")
	history = freshet.NewListState("history")
	perWord = freshet.NewMapState("per-word")
	prefix  []byte
)

func init() {
	// words: one record per space-separated word, key and value the word.
	freshet.FlatMap("words", func(c *freshet.Context, r *freshet.Record) error {
		for _, w := range bytes.Fields(r.Value) {
			c.Emit(w, w)
		}
		return nil
	})
	// label: prefixes the value (config {"prefix": "..."}, required), counts
	// records, copies odd-length values to the side output "odd", fails on
	// "bad" and panics on "panic".
	freshet.Map("label", func(c *freshet.Context, r *freshet.Record) ([]byte, error) {
		seen.Add(1)
		switch string(r.Value) {
		case "bad":
			return nil, errors.New("bad value")
		case "panic":
			panic("label: asked to panic")
		}
		if len(r.Value)%2 == 1 {
			if err := c.EmitSide("odd", r.Key, r.Value); err != nil {
				return nil, err
			}
		}
		return append(append([]byte{}, prefix...), r.Value...), nil
	}, freshet.OnOpen(func(config []byte) error {
		var cfg struct {
			Prefix *string `json:"prefix"`
		}
		if err := json.Unmarshal(config, &cfg); err != nil {
			return err
		}
		if cfg.Prefix == nil {
			return errors.New("label: config needs a prefix")
		}
		prefix = []byte(*cfg.Prefix)
		return nil
	}))
	freshet.Filter("short", func(c *freshet.Context, r *freshet.Record) (bool, error) { return len(r.Value) <= 3, nil })
	freshet.KeySelector("first-word", func(c *freshet.Context, r *freshet.Record) ([]byte, error) {
		f := bytes.Fields(r.Value)
		if len(f) == 0 {
			return nil, errors.New("empty value")
		}
		return f[0], nil
	})
	// tally: per key, counts records (value state "count", i64le), keeps
	// every value (list "history") and counts words (map "per-word", decimal
	// counts); emits the count. An event-time timer at ts+100 emits "done N"
	// and clears the state; a processing-time timer 1000 ms after the first
	// record of a key emits "idle".
	freshet.Process("tally", freshet.ProcessFuncs{
		ProcessElementFn: func(c *freshet.Context, r *freshet.Record) error {
			n, had, err := count.GetInt64()
			if err != nil {
				return err
			}
			if !had {
				if err := c.RegisterProcessingTimer(c.ProcessingTime() + 1000); err != nil {
					return err
				}
			}
			n++
			if err := count.PutInt64(n); err != nil {
				return err
			}
			if err := history.Add(r.Value); err != nil {
				return err
			}
			for _, w := range bytes.Fields(r.Value) {
				v, _, err := perWord.Get(w)
				if err != nil {
					return err
				}
				k, _ := strconv.Atoi(string(v))
				if err := perWord.Put(w, strconv.AppendInt(nil, int64(k+1), 10)); err != nil {
					return err
				}
			}
			if err := c.RegisterEventTimer(r.Timestamp + 100); err != nil {
				return err
			}
			c.Emit(r.Key, strconv.AppendInt(nil, n, 10))
			return nil
		},
		OnTimerFn: func(c *freshet.Context, t freshet.Timer) error {
			if t.ProcessingTime {
				c.EmitAt(t.Key, []byte("idle"), t.Timestamp)
				return nil
			}
			n, _, err := count.GetInt64()
			if err != nil {
				return err
			}
			c.EmitAt(t.Key, []byte("done "+strconv.FormatInt(n, 10)), t.Timestamp)
			if err := history.Clear(); err != nil {
				return err
			}
			if err := perWord.Clear(); err != nil {
				return err
			}
			return count.Clear()
		},
	})
	freshet.Aggregate("sum", sum{})
}

// sum adds decimal integers; the accumulator is an 8-byte little-endian int64.
type sum struct{}

func (sum) CreateAccumulator(dst []byte) []byte { return binary.LittleEndian.AppendUint64(dst, 0) }

func (sum) Add(acc, v, dst []byte) ([]byte, error) {
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return nil, errors.New("not an integer")
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
