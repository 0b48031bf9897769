#!/bin/bash
# make test: fuzz-corpus replay, unit tests, integration tests.  Each stage
# counts its own cases; the last line is "N passed, M failed".
# Integration tests start and stop their own services on 127.0.0.1 ports
# they pick, and clean up even when they fail (tests/integration/lib).
set -u
BUILD=${BUILD:-build}
export BUILD
export PORTCULLIS_BUILD=$(cd "$BUILD" && pwd)
# sanitizer builds: fail on the first error, report leaks (minus h2o's own caches)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0}
only_integration=0
[ "${1:-}" = "--integration-only" ] && only_integration=1
pass=0; fail=0
add() { pass=$((pass + $1)); fail=$((fail + $2)); }

if [ "$only_integration" = 0 ]; then
    # 1. replay every fuzz corpus through its parser (gcc build, no libFuzzer)
    for r in "$BUILD"/tests/replay_*; do
        [ -x "$r" ] || continue
        name=${r##*/replay_}
        if out=$("$r" "tests/fuzz/corpus/$name" 2>&1); then
            add 1 0
        else
            printf '%s\n' "$out" | tail -5
            echo "FAIL replay $name"; add 0 1
        fi
    done
    # 2. unit tests
    out=$(bash tests/run-unit.sh 2>&1)
    printf '%s\n' "$out" | grep -v '^unit:' | tail -40
    line=$(printf '%s\n' "$out" | tail -1)
    echo "$line"
    p=$(echo "$line" | sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(echo "$line" | sed -n 's/^unit: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    add "${p:-0}" "${f:-1}"
fi

# 3. integration tests: TAP scripts, each with a time limit
PY=/usr/bin/python3
for t in tests/integration/[0-9]*.t; do
    [ -f "$t" ] || continue
    start=$(date +%s)
    out=$(timeout -k 10 "${PC_TEST_TIMEOUT:-300}" "$PY" "$t" 2>&1); rc=$?
    secs=$(( $(date +%s) - start ))
    ok=$(printf '%s\n' "$out" | grep -c '^ok ' || true)
    nok=$(printf '%s\n' "$out" | grep -c '^not ok ' || true)
    plan=$(printf '%s\n' "$out" | sed -n 's/^1\.\.\([0-9]*\).*/\1/p' | head -1)
    missing=0
    if [ -n "$plan" ] && [ $((ok + nok)) -lt "$plan" ]; then missing=$((plan - ok - nok)); fi
    if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ] && [ "$missing" -eq 0 ]; then missing=1; fi
    if [ $((nok + missing)) -ne 0 ]; then
        printf '%s\n' "$out" | grep -E '^not ok|^#' | head -60
        echo "FAIL $t: $ok ok, $nok not ok, $missing missing (exit $rc, ${secs}s)"
    else
        echo "ok   $t: $ok (${secs}s)"
    fi
    add "$ok" $((nok + missing))
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
