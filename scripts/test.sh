#!/bin/bash
# test.sh is `make test`: every test, phase by phase, each a make target,
# the cheap ones and the compilation of every test binary first, so that a
# broken test file fails before the image build (a cold cache compiles the
# kernel there). It stops at the first phase that fails and ends, red or
# green, with a summary of the phases and their times (also kept in
# out/phases.txt), so that a CI log says at once where the time went and
# what failed.
#
# BERTH_REQUIRE_CONFORMANCE=1 (set by .ci/run) makes a missing
# ../shared/conformance corpus a failure; without it the tests that need it
# say loudly that they did not run.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${MAKE:=make}"
out=${OUT:-out}
mkdir -p "$out"
summary=$out/phases.txt
: >"$summary"
begin=$(date +%s)
failed=""

notes=()
corpus_missing() {
	[ -z "${BERTH_CONFORMANCE:-}" ] && [ ! -d ../shared/conformance/cloud-config ]
}
if corpus_missing; then
	if [ -n "${BERTH_REQUIRE_CONFORMANCE:-}" ]; then
		notes+=("the conformance corpus (../shared/conformance) is missing and BERTH_REQUIRE_CONFORMANCE is set: its tests fail")
	else
		notes+=("NOT RUN: the conformance tests (cloud-config's corpus tests, the Compat* QEMU scenarios): no ../shared/conformance beside this clone (or BERTH_CONFORMANCE)")
	fi
fi

report() {
	local total=$(( $(date +%s) - begin ))
	{
		echo "== make test: phases"
		cat "$summary"
		if [ -n "$failed" ]; then
			printf '%-12s %7ss  FAILED in %s\n' total "$total" "$failed"
		else
			printf '%-12s %7ss  ok\n' total "$total"
		fi
		for n in "${notes[@]}"; do
			echo "!! $n"
		done
	} | tee "$out/phases.txt.tmp"
	mv "$out/phases.txt.tmp" "$summary"
	if [ -f "$out/test/timing.txt" ] && [ -n "$(find "$out/test/timing.txt" -newermt "@$begin" 2>/dev/null)" ]; then
		echo "== the QEMU suite: $(tail -n 2 "$out/test/timing.txt" | head -n 1)"
	fi
	# The reasons last, where a CI log's tail shows them: each failing
	# test's own lines, from the failed phase's kept output.
	if [ -n "$failed" ] && [ -f "$out/$failed.log" ] && [ -n "$(find "$out/$failed.log" -newermt "@$begin" 2>/dev/null)" ]; then
		echo "== why $failed failed: each failing test's lines (all of its output: $out/$failed.log)"
		awk -f scripts/failures.awk "$out/$failed.log" | head -n 250
	fi
}
# The process group of what runs beside a phase (see beside), killed if
# make test ends first.
bg_pid=""
trap '[ -n "$bg_pid" ] && kill -- -"$bg_pid" 2>/dev/null; report' EXIT

# record NAME SECONDS EXIT [NOTE] adds a phase's line to the summary; a
# phase that failed ends make test with its exit code.
record() {
	local name=$1 took=$2 rc=$3 note=${4:+, $4}
	if [ "$rc" -ne 0 ]; then
		printf '%-12s %7ss  FAILED (exit %d)%s\n' "$name" "$took" "$rc" "$note" >>"$summary"
		failed=$name
		exit "$rc"
	fi
	printf '%-12s %7ss  ok%s\n' "$name" "$took" "$note" >>"$summary"
}

# phase NAME TARGET [VAR=VALUE...] runs make TARGET and records its time
# and result.
phase() {
	local name=$1 target=$2 start rc
	shift 2
	start=$(date +%s)
	echo "== make test: $name ($MAKE $target $*)"
	if [ -n "${logged:-}" ]; then
		# Its output is kept too ($out/NAME.log): if it fails, the
		# summary ends with the failing tests' own lines.
		$MAKE --no-print-directory "$target" "$@" 2>&1 | tee "$out/$name.log"
		rc=${PIPESTATUS[0]}
	else
		$MAKE --no-print-directory "$target" "$@"
		rc=$?
	fi
	record "$name" $(( $(date +%s) - start )) $rc
}

phase deps deps
phase tidy tidy-check
phase vet vet
phase compile compile-tests
logged=1 phase unit unit-test
logged=1 phase privileged privileged-test
# beside NAME TARGET [VAR=VALUE...] starts make TARGET in the background,
# in a process group of its own (killed if make test ends first), its
# output kept in $out/NAME.log; joined PHASE waits for it, prints that
# output and records its time and result, beside PHASE.
beside() {
	bg_name=$1
	local target=$2
	shift 2
	bg_log=$out/$bg_name.log
	bg_start=$(date +%s)
	echo "== make test: $bg_name ($MAKE $target $*), beside the next phase; its output ($bg_log) follows that phase's"
	# It notes when it ends (in $bg_log.end): joined comes only after the
	# next phase, and a check that ended long before took only its own time.
	rm -f "$bg_log.end"
	setsid sh -c '"$@"; rc=$?; date +%s >"$0.end"; exit $rc' "$bg_log" $MAKE --no-print-directory "$target" "$@" >"$bg_log" 2>&1 &
	bg_pid=$!
}
joined() {
	wait "$bg_pid"
	local rc=$?
	bg_pid=""
	local end
	end=$(cat "$bg_log.end" 2>/dev/null || date +%s)
	local took=$(( end - bg_start ))
	echo "== make test: $bg_name's output"
	cat "$bg_log"
	record "$bg_name" "$took" $rc "beside $1"
}

phase image build
# The kernel check runs beside the test assets. On a cold cache both are
# long: two incremental kernel builds (about 3 minutes each here, mostly
# one core's linking and BTF) and the test userland's and variants'
# builds (about 5). On a warm one the check's verdict is cached.
beside kernel kernel-check
phase assets test-assets QEMU_TEST_DEPS=
joined assets
logged=1 phase suite qemu-test QEMU_TEST_DEPS=
