// Package operators holds the built-in operators a job file names by type,
// and the key selectors behind key-by.
//
// Stateless, one record in and zero or more out: tokenize, json-extract,
// uppercase, filter, identity. Keyed rolling aggregates, which keep one value
// per key in the subtask's keyed state: count, sum, min, max, avg. Register
// adds them all to a registry; docs/job-spec.md describes each with an
// example.
//
// Hot path discipline: an operator builds each output value in a scratch
// buffer it reuses and emits a record held in the operator (so no pointer to
// a stack value escapes through api.Output); Output.Emit copies. In steady
// state the stateless operators allocate nothing per record, which
// TestAllocs checks.
//
// Bad records (a JSON field that is missing or not a number) go to the node's
// on-error policy through engine/onerror: fail stops the task with an error
// naming the operator, skip drops and counts the record, dead-letter writes
// it to the dead-letter file. Their errors wrap onerror.ErrMalformed.
//
// JSON field paths are those of package jsonpath ("user.id", "items[0]").
package operators
