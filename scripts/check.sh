#!/usr/bin/env bash
# Static checks for Freshet; `make check` runs it. Each step runs even when an
# earlier one failed; the summary at the end says which failed.
#
#   gofmt        gofmt -l lists no file (tracked or new, not ignored)
#   go vet       ./... (and sdk-go)
#   go mod tidy  `go mod tidy -diff` shows no change to go.mod / go.sum (and
#                sdk-go's); it only reports, it never rewrites them
#   shell lint   shellcheck over scripts/*.sh and .ci/run
#   lint         the import-rule test (engine/internal/lint)
#   generated    scripts/generate.sh (protobuf, go generate) leaves every file
#                as it was: generated code is committed up to date
# The check functions run through step "$@", which shellcheck cannot follow.
# shellcheck disable=SC2317
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH=$ROOT/.cache/bin:$PATH
GO=${GO:-go}

summary=()
failed=0

step() {
	local name=$1 rc=0
	shift
	printf '\n==> %s\n' "$name"
	"$@" || rc=$?
	if ((rc == 0)); then
		summary+=("  ok    $name")
	else
		summary+=("  FAIL  $name")
		failed=1
	fi
}

check_gofmt() {
	local files out
	mapfile -t files < <(git ls-files -co --exclude-standard -- '*.go')
	((${#files[@]} == 0)) && return 0
	out=$(gofmt -l "${files[@]}") || return 1
	if [[ -n $out ]]; then
		echo "not gofmt-ed (run gofmt -w on them):"
		echo "$out"
		return 1
	fi
}

# The step functions run in a `||` context, where set -e is off: each one
# checks its commands' status itself.

go_vet() {
	local rc=0
	"$GO" vet ./... || rc=1
	if [[ -f sdk-go/go.mod ]]; then (cd sdk-go && "$GO" vet ./...) || rc=1; fi
	return "$rc"
}

tidy_diff() {
	local rc=0
	"$GO" mod tidy -diff || rc=1
	if [[ -f sdk-go/go.mod ]]; then (cd sdk-go && "$GO" mod tidy -diff) || rc=1; fi
	((rc == 0)) || echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result"
	return "$rc"
}

run_shellcheck() {
	local files=(scripts/*.sh)
	[[ -f .ci/run ]] && files+=(.ci/run)
	shellcheck -x "${files[@]}"
}

# snapshot prints a checksum line for every tracked or new (not ignored) file.
snapshot() {
	git ls-files -z -co --exclude-standard | xargs -0 -r sha256sum 2>/dev/null | LC_ALL=C sort -k2 || true
}

generated_up_to_date() {
	local before after changed
	before=$(snapshot)
	scripts/generate.sh || { echo "generating code failed"; return 1; }
	after=$(snapshot)
	changed=$(diff <(echo "$before") <(echo "$after") | awk '/^[<>]/ { print "  " $3 }' | LC_ALL=C sort -u || true)
	if [[ -n $changed ]]; then
		echo "regenerating changed these files; commit the regenerated versions:"
		echo "$changed"
		return 1
	fi
}

step "gofmt" check_gofmt
step "go vet" go_vet
step "go mod tidy -diff" tidy_diff
step "shell lint" run_shellcheck
step "lint (import rules)" "$GO" test -count=1 ./engine/internal/lint/
step "generated code up to date" generated_up_to_date

printf '\n==> summary\n'
printf '%s\n' "${summary[@]}"
exit "$failed"
