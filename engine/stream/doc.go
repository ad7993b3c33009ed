// Package stream is Freshet's Go API for pipelines, in the shape Flink users
// know: an Environment creates DataStreams from sources; DataStream methods
// (Map, Filter, FlatMap, KeyBy, Process, Union, AddSink, ...) add operators;
// Execute runs the job on an in-process MiniCluster and waits for it.
//
// Every transformation becomes an api.Operator, the same interface WebAssembly
// operators implement, so Go functions, WebAssembly modules and built-in
// operators mix freely in one job.
//
// Building never panics: a mistake (an invalid parallelism, a keyed operator
// without KeyBy) is recorded and returned by Execute, naming the operator.
//
// Functions passed to Map, Filter, FlatMap and Process receive views of the
// record's bytes; they must not modify those bytes in place (other operators
// may see the same record) and must copy what they keep beyond the call. To
// produce a new value without allocating, build it in a buffer the function
// reuses across calls and point the record at it: the runtime copies it
// before the next call.
package stream
