#!/bin/bash
# Runs every fuzz target of scripts/fuzz-targets for FUZZTIME (10m unless
# set) one after another, with FUZZFLAGS added to go test (for example
# -parallel=1 on a busy machine), a line for each. Each input that finds
# new code is minimized for at most FUZZMINIMIZETIME (10s): Go's default of
# a minute an input stalled the targets whose inputs are disks (70 KiB) for
# most of a run. It goes on after a
# target fails, and fails if any did; the input that failed is in the
# package's testdata/fuzz folder, ready to be a regression seed.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10m}
FUZZFLAGS=${FUZZFLAGS:-}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-10s}
failed=()
while read -r pkg name; do
	case "$pkg" in "" | "#"*) continue ;; esac
	start=$SECONDS
	log=$(mktemp)
	# shellcheck disable=SC2086 # FUZZFLAGS is words
	if "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" $FUZZFLAGS "$pkg" >"$log" 2>&1; then
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1)
		echo "fuzz: $pkg $name: ok, $((SECONDS - start))s${execs:+, $execs}"
	elif grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log"; then
		# go.dev/issue/75804 (Go 1.26): the coordinator can report its own
		# deadline as a failure, with no input; fixed in Go 1.27.
		echo "fuzz: $pkg $name: ok, $((SECONDS - start))s, stopped with Go's context deadline exceeded (go.dev/issue/75804), no failing input"
	else
		echo "fuzz: $pkg $name: FAILED after $((SECONDS - start))s"
		sed 's/^/    /' "$log"
		failed+=("$pkg $name")
	fi
	rm -f "$log"
done <scripts/fuzz-targets
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: ${#failed[@]} failed: ${failed[*]}"
	exit 1
fi
