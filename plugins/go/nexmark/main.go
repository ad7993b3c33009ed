// Command nexmark holds the reference Nexmark q1 (currency conversion) and
// q2 (selected auctions) functions (plugins/README.md). A bid is CSV,
// auction,bidder,price,dateTime, or with configuration {"format": "binary"}
// the same four fields as 32 bytes of little-endian int64 (nexmark-view's
// binary rows).
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
	errBid        = errors.New("invalid bid")
	modulus int64 = 123
	out     []byte
	// readBid reads a bid in the configured format.
	readBid = parseBid
)

type bid struct{ auction, bidder, price, dateTime int64 }

// binaryBidLen is the size of a binary bid.
const binaryBidLen = 32

// decodeBid reads a binary bid: exactly 32 bytes, four little-endian int64.
func decodeBid(v []byte) (bid, bool) {
	if len(v) != binaryBidLen {
		return bid{}, false
	}
	f := func(i int) int64 { return int64(binary.LittleEndian.Uint64(v[i:])) }
	return bid{f(0), f(8), f(16), f(24)}, true
}

// openFormat reads the configuration's format ("csv" or "binary"; absent or
// null: csv) and sets readBid.
func openFormat(config []byte) error {
	var cfg struct {
		Format *string `json:"format"`
	}
	if err := json.Unmarshal(config, &cfg); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return errFormat
		}
		return err
	}
	switch {
	case cfg.Format == nil || *cfg.Format == "csv":
		readBid = parseBid
	case *cfg.Format == "binary":
		readBid = decodeBid
	default:
		return errFormat
	}
	return nil
}

var errFormat = errors.New(`format must be "csv" or "binary"`)

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
	b, ok := readBid(r.Value)
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
	b, ok := readBid(r.Value)
	if !ok {
		return false, errBid
	}
	return b.auction%modulus == 0, nil
}

func init() {
	freshet.Map("q1", q1, freshet.OnOpen(openFormat))
	freshet.Filter("q2", q2, freshet.OnOpen(func(config []byte) error {
		if err := openFormat(config); err != nil {
			return err
		}
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
