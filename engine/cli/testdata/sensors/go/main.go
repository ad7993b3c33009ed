// Command sensors holds three operator functions over sensor readings
// (decimal integers): to-celsius (map), threshold (keyed process function)
// and mean (aggregate).
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"

	freshet "github.com/freshet/freshet/sdk-go"
)

var celsius []byte

// toCelsius converts a reading in °F to °C, rounded toward zero. The key,
// timestamp and headers of the record are kept.
func toCelsius(c *freshet.Context, r *freshet.Record) ([]byte, error) {
	f, err := strconv.ParseInt(string(r.Value), 10, 64)
	if err != nil {
		return nil, errors.New("not a reading")
	}
	celsius = strconv.AppendInt(celsius[:0], (f-32)*5/9, 10)
	return celsius, nil
}

var (
	threshold int64 = 100
	lastAlert       = freshet.NewValueState("last-alert") // time of the sensor's last alert
	alerts          = freshet.NewCounter("alerts")
)

// detector alerts when a sensor reads above the threshold, at most once a
// minute per sensor (event time). The stream is keyed by sensor.
type detector struct{}

func (detector) ProcessElement(c *freshet.Context, r *freshet.Record) error {
	v, err := strconv.ParseInt(string(r.Value), 10, 64)
	if err != nil {
		return errors.New("not a reading") // the job's on-error policy decides
	}
	if v <= threshold {
		return nil
	}
	last, alerted, err := lastAlert.GetInt64()
	if err != nil {
		return err
	}
	if alerted && r.Timestamp-last < 60_000 {
		return nil // quiet for a minute after an alert
	}
	if err := lastAlert.PutInt64(r.Timestamp); err != nil {
		return err
	}
	if err := c.RegisterEventTimer(r.Timestamp + 60_000); err != nil {
		return err
	}
	alerts.Add(1)
	c.Emit(r.Key, []byte("HIGH "+string(r.Key)+" "+strconv.FormatInt(v, 10))) // at the reading's timestamp
	return nil
}

// OnTimer forgets an alert once its minute is over, so idle sensors keep no
// state. (A newer alert has a later timer of its own.)
func (detector) OnTimer(c *freshet.Context, t freshet.Timer) error {
	last, alerted, err := lastAlert.GetInt64()
	if err != nil || !alerted || t.Timestamp < last+60_000 {
		return err
	}
	return lastAlert.Clear()
}

// mean is the integer mean of readings. Its accumulator, which the host
// keeps in state, is two little-endian int64: count and sum.
type mean struct{}

func (mean) CreateAccumulator(dst []byte) []byte { return encode(dst, 0, 0) }

func (mean) Add(acc, v, dst []byte) ([]byte, error) {
	count, sum, err := decode(acc)
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return nil, errors.New("not a reading")
	}
	return encode(dst, count+1, sum+n), nil
}

func (mean) Merge(a, b, dst []byte) ([]byte, error) {
	c1, s1, err := decode(a)
	if err != nil {
		return nil, err
	}
	c2, s2, err := decode(b)
	if err != nil {
		return nil, err
	}
	return encode(dst, c1+c2, s1+s2), nil
}

func (mean) Result(acc, dst []byte) ([]byte, error) {
	count, sum, err := decode(acc)
	if err != nil || count == 0 {
		return dst, err
	}
	return strconv.AppendInt(dst, sum/count, 10), nil
}

func encode(dst []byte, count, sum int64) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(count))
	return binary.LittleEndian.AppendUint64(dst, uint64(sum))
}

func decode(acc []byte) (count, sum int64, err error) {
	if len(acc) != 16 {
		return 0, 0, errors.New("accumulator is not 16 bytes")
	}
	return int64(binary.LittleEndian.Uint64(acc)), int64(binary.LittleEndian.Uint64(acc[8:])), nil
}

// init registers the functions; main stays empty.
func init() {
	freshet.Map("to-celsius", toCelsius)
	freshet.Process("threshold", detector{}, freshet.OnOpen(func(config []byte) error {
		var cfg struct {
			Threshold *int64 `json:"threshold"`
		}
		if err := json.Unmarshal(config, &cfg); err != nil {
			return err
		}
		if cfg.Threshold != nil {
			threshold = *cfg.Threshold
		}
		return nil
	}))
	freshet.Aggregate("mean", mean{})
}

func main() {}
