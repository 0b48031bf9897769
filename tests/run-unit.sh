#!/bin/bash
# Run every unit-test binary in $BUILD/tests (cmocka prints on stderr), count
# a crash as a failure, end with "unit: N passed, M failed".
set -u
BUILD=${BUILD:-build}
pass=0; fail=0
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' | tail -1)
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1   # crashed or aborted before cmocka's summary
    fi
    if [ "$f" -ne 0 ]; then
        printf '%s\n' "$out" | grep -E '^\[  (FAILED|  ERROR)|ERROR|Assert|error' | head -20
        echo "FAIL $(basename "$t"): $f failed (exit $rc)"
    fi
    pass=$((pass + p)); fail=$((fail + f))
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
