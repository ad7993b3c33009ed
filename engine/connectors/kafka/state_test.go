package kafka

import (
	"errors"
	"reflect"
	"testing"
)

func TestStateRoundTrip(t *testing.T) {
	offs := []offsetEntry{
		{"orders", 0, 0, -1},
		{"a.b-c_d", 2147483647, 1 << 60, 1 << 61},
	}
	for _, e := range offs {
		got, err := decodeOffset(e.encode())
		if err != nil || got != e {
			t.Errorf("offset %+v round-tripped to %+v, %v", e, got, err)
		}
	}
	pool := poolEntry{Subtask: 3, Parallelism: 4, Size: 5, Prefix: "job-sink"}
	if got, err := decodePool(pool.encode()); err != nil || got != pool {
		t.Errorf("pool %+v round-tripped to %+v, %v", pool, got, err)
	}
	tx := txnEntry{Checkpoint: 42, Subtask: 1, TxnID: "job-sink-1-0", ProducerID: 1000, Epoch: 7}
	if got, err := decodeTxn(tx.encode()); err != nil || !reflect.DeepEqual(got, tx) {
		t.Errorf("txn %+v round-tripped to %+v, %v", tx, got, err)
	}
}

func TestStateRejectsCorruptEntries(t *testing.T) {
	good := offsetEntry{"orders", 1, 10, -1}.encode()
	tests := map[string][]byte{
		"empty":         nil,
		"other version": append([]byte{9}, good[1:]...),
		"truncated":     good[:len(good)-1],
		"trailing":      append(append([]byte(nil), good...), 0),
		"huge string":   {stateVersion, kindOffset, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad subtask":   poolEntry{Subtask: 4, Parallelism: 4, Size: 1, Prefix: "p"}.encode(),
	}
	for name, b := range tests {
		var err error
		if _, err = entryKind(b); err == nil {
			switch b[1] {
			case kindOffset:
				_, err = decodeOffset(b)
			case kindPool:
				_, err = decodePool(b)
			}
		}
		if !errors.Is(err, ErrCorruptState) {
			t.Errorf("%s: err = %v, want ErrCorruptState", name, err)
		}
	}
}

// FuzzStateDecode: no entry makes a decoder panic, and what decodes
// re-encodes to the same bytes.
func FuzzStateDecode(f *testing.F) {
	f.Add(offsetEntry{"t", 1, 2, 3}.encode())
	f.Add(poolEntry{0, 1, 5, "p"}.encode())
	f.Add(txnEntry{1, 0, "p-0-0", 5, 1}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, err := entryKind(b)
		if err != nil {
			return
		}
		var again []byte
		switch kind {
		case kindOffset:
			e, err := decodeOffset(b)
			if err != nil {
				return
			}
			again = e.encode()
		case kindPool:
			e, err := decodePool(b)
			if err != nil {
				return
			}
			again = e.encode()
		case kindTxn:
			e, err := decodeTxn(b)
			if err != nil {
				return
			}
			again = e.encode()
		default:
			return
		}
		if string(again) != string(b) {
			t.Fatalf("%x decoded and re-encoded to %x", b, again)
		}
	})
}
