package windows

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Window contents in list mode (every element kept, for window functions
// and joins) live in two states per key and window:
//
//   - <name>.contents, a value: while the window is small (at most
//     maxInline elements and maxInlineBytes), its elements themselves,
//     each as uvarint length + bytes after a leading inlineTag; once it grew
//     past that, just spilledTag.
//   - <name>.spilled, a list: the elements of a spilled window.
//
// Most windows hold a few elements (a window join's person and auctions, a
// session's clicks), and a value is one point read or write, which the
// RocksDB backend answers from its state cache, where a list is a scan.
// Large windows append to the list, a blind write per element.
const (
	inlineTag  = 0
	spilledTag = 1

	maxInline      = 32
	maxInlineBytes = 2048
)

var (
	spilledMark = []byte{spilledTag}

	errBadContents = errors.New("corrupt window contents")
)

// contentsValue reads the window's contents value into o.inl (a copy, so
// that state calls made while it is used cannot overwrite it). ok is false
// for an empty window.
func (o *Operator) contentsValue() (ok bool, err error) {
	v, ok, err := o.inline.Get()
	if err != nil || !ok {
		return false, err
	}
	if len(v) == 0 || v[0] > spilledTag {
		return false, fmt.Errorf("%w: contents value of %d bytes, tag %v", errBadContents, len(v), v[:min(1, len(v))])
	}
	o.inl = append(o.inl[:0], v...)
	return true, nil
}

// addElement appends o.elem to the window in the current namespace and
// says whether the window was empty. With Config.Distinct an element equal
// to one the window holds is not added.
func (o *Operator) addElement() (first bool, err error) {
	ok, err := o.contentsValue()
	if err != nil {
		return false, fmt.Errorf("reading window contents: %w", err)
	}
	if ok && o.cfg.Distinct {
		dup, err := o.holdsElement()
		if err != nil || dup {
			return false, err
		}
	}
	switch {
	case ok && o.inl[0] == spilledTag:
		err = o.ls.Add(o.elem)
	case !ok || (countInline(o.inl) < maxInline && len(o.inl)+binary.MaxVarintLen32+len(o.elem) <= maxInlineBytes):
		if !ok {
			o.inl = append(o.inl[:0], inlineTag)
		}
		o.inl = binary.AppendUvarint(o.inl, uint64(len(o.elem)))
		o.inl = append(o.inl, o.elem...)
		err = o.inline.Put(o.inl)
	default: // the window outgrows its value: move the elements to the list
		err = eachInline(o.inl, func(e []byte) error { return o.ls.Add(e) })
		if err == nil {
			err = o.ls.Add(o.elem)
		}
		if err == nil {
			err = o.inline.Put(spilledMark)
		}
	}
	if err != nil {
		return false, fmt.Errorf("adding to window: %w", err)
	}
	return !ok, nil
}

// holdsElement says whether the window whose contents value is o.inl holds
// an element equal to o.elem.
func (o *Operator) holdsElement() (bool, error) {
	found := false
	if o.inl[0] == spilledTag {
		err := o.ls.Iter(func(e []byte) bool {
			found = bytes.Equal(e, o.elem)
			return !found
		})
		if err != nil {
			return false, fmt.Errorf("reading window contents: %w", err)
		}
		return found, nil
	}
	err := eachInline(o.inl, func(e []byte) error {
		if bytes.Equal(e, o.elem) {
			return errFound
		}
		return nil
	})
	if err == errFound {
		return true, nil
	}
	return false, err
}

// errFound stops eachInline once holdsElement found the element.
var errFound = errors.New("found")

// clearElements empties the window in the current namespace.
func (o *Operator) clearElements() error {
	ok, err := o.contentsValue()
	if err == nil && ok {
		if o.inl[0] == spilledTag {
			err = o.ls.Clear()
		}
		if err == nil {
			err = o.inline.Clear()
		}
	}
	if err != nil {
		return fmt.Errorf("clearing window contents: %w", err)
	}
	return nil
}

// elements sets o.contents to iterate the window's elements in the
// current namespace, in the order they were added; ok is false when the
// window is empty.
func (o *Operator) elements() (ok bool, err error) {
	if ok, err = o.contentsValue(); err != nil || !ok {
		return false, err
	}
	if o.inl[0] == spilledTag {
		o.contents = o.listSeq
	} else {
		o.contents = o.inlineSeq
	}
	return true, nil
}

// collectElements copies the window's elements into o.copies.
func (o *Operator) collectElements() error {
	o.copies = o.copies[:0]
	ok, err := o.elements()
	if err != nil || !ok {
		return err
	}
	o.iterErr = nil
	o.contents(func(e []byte) bool {
		o.copies = append(o.copies, append([]byte(nil), e...))
		return true
	})
	return o.iterErr
}

// eachInline calls fn for every element of an inline contents value.
func eachInline(v []byte, fn func(e []byte) error) error {
	for rest := v[1:]; len(rest) > 0; {
		n, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < n {
			return fmt.Errorf("%w: element length at byte %d", errBadContents, len(v)-len(rest))
		}
		if err := fn(rest[w : w+int(n)]); err != nil {
			return err
		}
		rest = rest[w+int(n):]
	}
	return nil
}

// countInline is the number of elements of an inline contents value
// (malformed values count what precedes the damage; eachInline reports it).
func countInline(v []byte) int {
	n := 0
	_ = eachInline(v, func([]byte) error { n++; return nil })
	return n
}

// stopIteration ends eachInline early without an error.
var stopIteration = errors.New("stop")

func (o *Operator) iterInline(yield func([]byte) bool) {
	err := eachInline(o.inl, func(e []byte) error {
		if !yield(e) {
			return stopIteration
		}
		return nil
	})
	if err != nil && err != stopIteration {
		o.iterErr = err
	}
}
