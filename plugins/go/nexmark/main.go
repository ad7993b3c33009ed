// Command nexmark holds the reference Nexmark q1 (currency conversion) and
// q2 (selected auctions) functions (plugins/README.md). Bids are CSV:
// auction,bidder,price,dateTime.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	freshet "github.com/freshet/freshet/sdk-go"
)

var (
	errBid        = errors.New("invalid bid")
	modulus int64 = 123
	out     []byte
)

type bid struct{ auction, bidder, price, dateTime int64 }

// parseBid reads exactly four decimal integers separated by commas.
func parseBid(v []byte) (bid, bool) {
	var f [4]int64
	for i := range f {
		field := v
		if i < 3 {
			j := bytes.IndexByte(v, ',')
			if j < 0 {
				return bid{}, false
			}
			field, v = v[:j], v[j+1:]
		}
		n, ok := decimal(field)
		if !ok {
			return bid{}, false
		}
		f[i] = n
	}
	return bid{f[0], f[1], f[2], f[3]}, true
}

func decimal(b []byte) (int64, bool) {
	d := b
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 19 || bytes.IndexFunc(d, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

func q1(c *freshet.Context, r *freshet.Record) ([]byte, error) {
	b, ok := parseBid(r.Value)
	if !ok {
		return nil, errBid
	}
	price := b.price/1000*908 + (b.price%1000)*908/1000
	out = strconv.AppendInt(out[:0], b.auction, 10)
	out = append(out, ',')
	out = strconv.AppendInt(out, b.bidder, 10)
	out = append(out, ',')
	out = strconv.AppendInt(out, price, 10)
	out = append(out, ',')
	out = strconv.AppendInt(out, b.dateTime, 10)
	return out, nil
}

func q2(c *freshet.Context, r *freshet.Record) (bool, error) {
	b, ok := parseBid(r.Value)
	if !ok {
		return false, errBid
	}
	return b.auction%modulus == 0, nil
}

func init() {
	freshet.Map("q1", q1)
	freshet.Filter("q2", q2, freshet.OnOpen(func(config []byte) error {
		var cfg struct {
			Modulus *json.Number `json:"modulus"`
		}
		if err := json.Unmarshal(config, &cfg); err != nil {
			return err
		}
		if cfg.Modulus != nil {
			n, err := strconv.ParseInt(cfg.Modulus.String(), 10, 64)
			if err != nil || n <= 0 {
				return errors.New("modulus must be a positive integer")
			}
			modulus = n
		}
		return nil
	}))
}

func main() {}
