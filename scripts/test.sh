#!/usr/bin/env bash
# Runs every Freshet test suite against the real Kafka broker; `make test`
# runs it as `scripts/kafka.sh run scripts/test.sh` after building.
#
# Steps, each run even when an earlier one failed, summarised at the end:
#   kafka smoke   transactional round trip; also creates the broker's internal
#                 topics so the tests do not wait for that
#   go test       go test $GOTEST_FLAGS ./...
#   go test -race go test -race $RACE_FLAGS $RACE_PKGS
#   sdk-go        go test ./... in sdk-go (its own module), when sdk-go/go.mod exists
#   sdk-rust      $CARGO test in sdk-rust, when sdk-rust/Cargo.toml exists
# Exits non-zero when any step failed.
# Steps run through step "$@", which shellcheck cannot follow.
# shellcheck disable=SC2317
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

: "${FRESHET_KAFKA:?scripts/test.sh needs the broker: run it as 'make test' or 'scripts/kafka.sh run scripts/test.sh'}"
GO=${GO:-go}
CARGO=${CARGO:-/usr/bin/cargo}
read -r -a GOTEST_FLAGS <<<"${GOTEST_FLAGS:--p 2 -timeout 20m}"
read -r -a RACE_FLAGS <<<"${RACE_FLAGS:--p 2 -timeout 25m}"
read -r -a RACE_PKGS <<<"${RACE_PKGS:-./engine/...}"
export FRESHET_KAFKA

summary=()
failed=0

# step NAME CMD... runs one step and records its outcome and duration.
step() {
	local name=$1 t0 rc=0
	shift
	printf '\n==> %s: %s\n' "$name" "$*"
	t0=$SECONDS
	"$@" || rc=$?
	if ((rc == 0)); then
		summary+=("$(printf '  ok    %-14s %4ds' "$name" $((SECONDS - t0)))")
	else
		summary+=("$(printf '  FAIL  %-14s %4ds  (exit %d)' "$name" $((SECONDS - t0)) "$rc")")
		failed=1
	fi
}

# in_dir DIR CMD... runs CMD in DIR.
in_dir() {
	local dir=$1
	shift
	(cd "$dir" && "$@")
}

skip() { summary+=("$(printf '  skip  %-14s        (%s)' "$1" "$2")"); }

echo "FRESHET_KAFKA=$FRESHET_KAFKA"
step "kafka smoke" "$GO" run ./engine/internal/kafkatest/kafkasmoke -bootstrap "$FRESHET_KAFKA"
step "go test" "$GO" test "${GOTEST_FLAGS[@]}" ./...
if ((${#RACE_PKGS[@]} > 0)); then
	step "go test -race" "$GO" test -race "${RACE_FLAGS[@]}" "${RACE_PKGS[@]}"
else
	skip "go test -race" "RACE_PKGS is empty"
fi
if [[ -f sdk-go/go.mod ]]; then
	step "sdk-go" in_dir sdk-go "$GO" test "${GOTEST_FLAGS[@]}" ./...
else
	skip "sdk-go" "no sdk-go/go.mod"
fi
if [[ -f sdk-rust/Cargo.toml ]]; then
	# Debian's rustc and rustdoc with Debian's cargo: the SDK must build
	# with Rust 1.63, and rustup's newer toolchain may come first on PATH.
	step "sdk-rust" in_dir sdk-rust env RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc "$CARGO" test --offline
else
	skip "sdk-rust" "no sdk-rust/Cargo.toml"
fi

printf '\n==> summary (%ds in all)\n' "$SECONDS"
printf '%s\n' "${summary[@]}"
exit "$failed"
