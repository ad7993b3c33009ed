package nexmark

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends ev as one JSON object with a "type" discriminator and
// the standard Nexmark field names; times are integers in ms:
//
//	{"type":"bid","auction":1007,"bidder":1001,"price":2139,"channel":"Google","url":"https://...","dateTime":1436918400123,"extra":"..."}
func AppendJSON(dst []byte, ev *Event) []byte {
	appendField := appendEscaped
	if ev.plain {
		appendField = appendPlain
	}
	switch ev.Kind {
	case KindPerson:
		p := &ev.Person
		dst = append(dst, `{"type":"person","id":`...)
		dst = strconv.AppendInt(dst, p.ID, 10)
		dst = appendField(dst, `,"name":`, p.Name)
		dst = appendField(dst, `,"emailAddress":`, p.EmailAddress)
		dst = appendField(dst, `,"creditCard":`, p.CreditCard)
		dst = appendField(dst, `,"city":`, p.City)
		dst = appendField(dst, `,"state":`, p.State)
		dst = append(dst, `,"dateTime":`...)
		dst = strconv.AppendInt(dst, p.DateTime, 10)
		dst = appendField(dst, `,"extra":`, p.Extra)
	case KindAuction:
		a := &ev.Auction
		dst = append(dst, `{"type":"auction","id":`...)
		dst = strconv.AppendInt(dst, a.ID, 10)
		dst = appendField(dst, `,"itemName":`, a.ItemName)
		dst = appendField(dst, `,"description":`, a.Description)
		dst = append(dst, `,"initialBid":`...)
		dst = strconv.AppendInt(dst, a.InitialBid, 10)
		dst = append(dst, `,"reserve":`...)
		dst = strconv.AppendInt(dst, a.Reserve, 10)
		dst = append(dst, `,"dateTime":`...)
		dst = strconv.AppendInt(dst, a.DateTime, 10)
		dst = append(dst, `,"expires":`...)
		dst = strconv.AppendInt(dst, a.Expires, 10)
		dst = append(dst, `,"seller":`...)
		dst = strconv.AppendInt(dst, a.Seller, 10)
		dst = append(dst, `,"category":`...)
		dst = strconv.AppendInt(dst, a.Category, 10)
		dst = appendField(dst, `,"extra":`, a.Extra)
	default:
		b := &ev.Bid
		dst = append(dst, `{"type":"bid","auction":`...)
		dst = strconv.AppendInt(dst, b.Auction, 10)
		dst = append(dst, `,"bidder":`...)
		dst = strconv.AppendInt(dst, b.Bidder, 10)
		dst = append(dst, `,"price":`...)
		dst = strconv.AppendInt(dst, b.Price, 10)
		dst = appendField(dst, `,"channel":`, b.Channel)
		dst = appendField(dst, `,"url":`, b.URL)
		dst = append(dst, `,"dateTime":`...)
		dst = strconv.AppendInt(dst, b.DateTime, 10)
		dst = appendField(dst, `,"extra":`, b.Extra)
	}
	return append(dst, '}')
}

func appendEscaped(dst []byte, name string, s []byte) []byte {
	return appendJSONString(append(dst, name...), s)
}

// appendPlain appends a field whose string needs no escaping: generated
// strings are letters, digits, spaces and URL characters.
func appendPlain(dst []byte, name string, s []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendJSONString appends s as a JSON string (invalid UTF-8 becomes U+FFFD).
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	clean := true
	for _, c := range s {
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			clean = false
			break
		}
	}
	if clean {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
		i++
	}
	return append(dst, '"')
}

// AppendBinary appends ev in the compact binary encoding: one byte of Kind,
// then the kind's fields in their standard order, integers as zig-zag
// varints (encoding/binary.AppendVarint) and strings as a uvarint length
// followed by the bytes:
//
//	person:  0 id name emailAddress creditCard city state dateTime extra
//	auction: 1 id itemName description initialBid reserve dateTime expires seller category extra
//	bid:     2 auction bidder price channel url dateTime extra
//
// A bid of the default configuration takes about 110 bytes (JSON: about 230).
func AppendBinary(dst []byte, ev *Event) []byte {
	dst = append(dst, byte(ev.Kind))
	switch ev.Kind {
	case KindPerson:
		p := &ev.Person
		dst = binary.AppendVarint(dst, p.ID)
		dst = appendBytes(dst, p.Name)
		dst = appendBytes(dst, p.EmailAddress)
		dst = appendBytes(dst, p.CreditCard)
		dst = appendBytes(dst, p.City)
		dst = appendBytes(dst, p.State)
		dst = binary.AppendVarint(dst, p.DateTime)
		dst = appendBytes(dst, p.Extra)
	case KindAuction:
		a := &ev.Auction
		dst = binary.AppendVarint(dst, a.ID)
		dst = appendBytes(dst, a.ItemName)
		dst = appendBytes(dst, a.Description)
		dst = binary.AppendVarint(dst, a.InitialBid)
		dst = binary.AppendVarint(dst, a.Reserve)
		dst = binary.AppendVarint(dst, a.DateTime)
		dst = binary.AppendVarint(dst, a.Expires)
		dst = binary.AppendVarint(dst, a.Seller)
		dst = binary.AppendVarint(dst, a.Category)
		dst = appendBytes(dst, a.Extra)
	default:
		b := &ev.Bid
		dst = binary.AppendVarint(dst, b.Auction)
		dst = binary.AppendVarint(dst, b.Bidder)
		dst = binary.AppendVarint(dst, b.Price)
		dst = appendBytes(dst, b.Channel)
		dst = appendBytes(dst, b.URL)
		dst = binary.AppendVarint(dst, b.DateTime)
		dst = appendBytes(dst, b.Extra)
	}
	return dst
}

func appendBytes(dst, s []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// ErrCorrupt is the category of bytes that are not a binary Nexmark event.
var ErrCorrupt = errors.New("corrupt nexmark event")

// decoder reads fields; the first problem sticks.
type decoder struct {
	src []byte
	err error
}

func (d *decoder) int(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.src)
	if n <= 0 {
		d.err = fmt.Errorf("%w: field %s: bad varint", ErrCorrupt, field)
		return 0
	}
	d.src = d.src[n:]
	return v
}

func (d *decoder) bytes(field string) []byte {
	if d.err != nil {
		return nil
	}
	l, n := binary.Uvarint(d.src)
	if n <= 0 {
		d.err = fmt.Errorf("%w: field %s: bad length", ErrCorrupt, field)
		return nil
	}
	d.src = d.src[n:]
	if l > uint64(len(d.src)) {
		d.err = fmt.Errorf("%w: field %s: length %d exceeds the %d bytes left", ErrCorrupt, field, l, len(d.src))
		return nil
	}
	s := d.src[:l:l]
	d.src = d.src[l:]
	return s
}

// DecodeBinary fills ev from src, one event in the AppendBinary encoding.
// ev's byte slices are views into src. Any other input is an error that
// wraps ErrCorrupt.
func DecodeBinary(src []byte, ev *Event) error {
	if len(src) == 0 {
		return fmt.Errorf("%w: empty", ErrCorrupt)
	}
	d := decoder{src: src[1:]}
	ev.plain = false
	switch ev.Kind = Kind(src[0]); ev.Kind {
	case KindPerson:
		p := &ev.Person
		p.ID = d.int("id")
		p.Name = d.bytes("name")
		p.EmailAddress = d.bytes("emailAddress")
		p.CreditCard = d.bytes("creditCard")
		p.City = d.bytes("city")
		p.State = d.bytes("state")
		p.DateTime = d.int("dateTime")
		p.Extra = d.bytes("extra")
	case KindAuction:
		a := &ev.Auction
		a.ID = d.int("id")
		a.ItemName = d.bytes("itemName")
		a.Description = d.bytes("description")
		a.InitialBid = d.int("initialBid")
		a.Reserve = d.int("reserve")
		a.DateTime = d.int("dateTime")
		a.Expires = d.int("expires")
		a.Seller = d.int("seller")
		a.Category = d.int("category")
		a.Extra = d.bytes("extra")
	case KindBid:
		b := &ev.Bid
		b.Auction = d.int("auction")
		b.Bidder = d.int("bidder")
		b.Price = d.int("price")
		b.Channel = d.bytes("channel")
		b.URL = d.bytes("url")
		b.DateTime = d.int("dateTime")
		b.Extra = d.bytes("extra")
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrCorrupt, src[0])
	}
	if d.err != nil {
		return fmt.Errorf("decoding %s: %w", ev.Kind, d.err)
	}
	if len(d.src) != 0 {
		return fmt.Errorf("decoding %s: %w: %d trailing bytes", ev.Kind, ErrCorrupt, len(d.src))
	}
	return nil
}
