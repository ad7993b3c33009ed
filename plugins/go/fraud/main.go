// Command fraud is the reference fraud-detection keyed process function
// (plugins/README.md): a small transaction followed within a minute by a
// large one on the same account raises an alert.
package main

import (
	"errors"
	"strconv"

	freshet "github.com/freshet/freshet/sdk-go"
)

const (
	small  = 100    // cents: below this a transaction is small
	large  = 50000  // cents: above this a transaction is large
	window = 60_000 // ms
)

var (
	flag  = freshet.NewValueState("flag")
	timer = freshet.NewValueState("timer")
	alert []byte
)

type detector struct{}

func (detector) ProcessElement(c *freshet.Context, r *freshet.Record) error {
	amount, err := strconv.ParseInt(string(r.Value), 10, 64)
	if err != nil || !decimal(r.Value) {
		return errors.New("invalid amount")
	}
	flagTs, flagged, err := flag.GetInt64()
	if err != nil {
		return err
	}
	if flagged {
		if amount > large && r.Timestamp-flagTs < window {
			alert = append(alert[:0], "ALERT "...)
			alert = append(alert, r.Key...)
			alert = append(alert, ' ')
			alert = strconv.AppendInt(alert, amount, 10)
			c.EmitAt(r.Key, alert, r.Timestamp)
		}
		if err := cleanUp(c); err != nil {
			return err
		}
	}
	if amount < small {
		if err := flag.PutInt64(r.Timestamp); err != nil {
			return err
		}
		if err := c.RegisterEventTimer(r.Timestamp + window); err != nil {
			return err
		}
		return timer.PutInt64(r.Timestamp + window)
	}
	return nil
}

func cleanUp(c *freshet.Context) error {
	ts, ok, err := timer.GetInt64()
	if err != nil {
		return err
	}
	if ok {
		if err := c.DeleteEventTimer(ts); err != nil {
			return err
		}
	}
	if err := timer.Clear(); err != nil {
		return err
	}
	return flag.Clear()
}

func (detector) OnTimer(c *freshet.Context, t freshet.Timer) error {
	if err := timer.Clear(); err != nil {
		return err
	}
	return flag.Clear()
}

// decimal reports whether b is an optional '-' and 1-19 digits.
func decimal(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func init() { freshet.Process("fraud", detector{}) }

func main() {}
