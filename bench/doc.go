// Package bench holds Freshet's benchmarks that measure whole pipelines,
// each against a baseline computed in the same run (a hand-written Go loop
// doing the same work), so that ratios stay meaningful on a noisy machine.
//
// Run them with `make bench`, or directly:
//
//	go test -run '^$' -bench . -benchtime 2s -count 5 -cpu 1 ./bench/
//
// Figures and the commands that produced them are in docs/benchmarks.md.
package bench
