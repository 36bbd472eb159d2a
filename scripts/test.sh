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
}
trap report EXIT

# phase NAME TARGET [VAR=VALUE...] runs make TARGET and records its time
# and result.
phase() {
	local name=$1 target=$2 start rc
	shift 2
	start=$(date +%s)
	echo "== make test: $name ($MAKE $target $*)"
	$MAKE --no-print-directory "$target" "$@"
	rc=$?
	local took=$(( $(date +%s) - start ))
	if [ $rc -ne 0 ]; then
		printf '%-12s %7ss  FAILED (exit %d)\n' "$name" "$took" "$rc" >>"$summary"
		failed=$name
		exit $rc
	fi
	printf '%-12s %7ss  ok\n' "$name" "$took" >>"$summary"
}

phase deps deps
phase tidy tidy-check
phase vet vet
phase compile compile-tests
phase unit unit-test
phase privileged privileged-test
phase image build
phase kernel kernel-check
phase assets test-assets QEMU_TEST_DEPS=
phase suite qemu-test QEMU_TEST_DEPS=
