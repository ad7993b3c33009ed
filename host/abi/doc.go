// Package abi holds Freshet's WebAssembly ABI v1 as Go constants and
// signature tables for the host: the import module and function names, status
// codes, batch entry and control block layouts, operator and entry kinds.
//
// abi.json in this directory is the single source of truth. `go generate
// ./host/abi` renders it into this package (abi_gen.go), sdk-go's internal
// abi package (constants and //go:wasmimport declarations), sdk-rust's
// src/abi.rs and the tables of docs/abi.md; TestGeneratedFilesMatchSpec fails
// when any of them drifts from the spec. docs/abi.md describes the protocol.
package abi

//go:generate go run ./internal/gen -root ../..
