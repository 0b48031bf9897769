#!/bin/bash
# make fuzz [FUZZ_SECONDS=N]: build every tests/fuzz/fuzz_*.c as a libFuzzer
# target (clang, ASan+UBSan, our libraries instrumented too) into build/fuzz
# and run each for N seconds (default 60; 0 = build only).  The seeds in
# tests/fuzz/corpus/NAME are read, never written: what a run finds goes to
# build/fuzz/corpus/NAME, crashers to build/fuzz/crash/NAME-*.  A crasher
# worth keeping is copied into tests/fuzz/corpus/NAME once fixed, and make
# test replays it from then on.
set -eu
secs=${1:-${FUZZ_SECONDS:-60}}
B=build/fuzz
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (make deps installs clang)" >&2; exit 2; }
FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -Wno-unknown-warning-option"
make --no-print-directory CC="$CC" BUILD=$B OPT="-O1 -g" EXTRA_CFLAGS="$FLAGS" \
    $B/lib/libgw.a $B/lib/libcm.a $B/lib/libauthn.a $B/lib/libpol.a $B/lib/libpc.a
libs="-Wl,--start-group $B/lib/libgw.a $B/lib/libcm.a $B/lib/libauthn.a $B/lib/libpol.a $B/lib/libpc.a -Wl,--end-group"
pk="libh2o-evloop openssl libjwt jansson yaml-0.1 libcurl hiredis"
cflags="-std=gnu17 -O1 -g -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -DH2O_USE_EPOLL=1 -I. $(pkg-config --cflags $pk)"
ldlibs="$(pkg-config --libs $pk) -lssl -lcrypto -lpthread"
mkdir -p $B/bin $B/crash
status=0
for src in tests/fuzz/fuzz_*.c; do
    name=${src##*/fuzz_}; name=${name%.c}
    echo "  FUZZ    $name"
    $CC $cflags -fsanitize=fuzzer,address,undefined -o $B/bin/fuzz_$name "$src" $libs $ldlibs
    [ "$secs" = 0 ] && continue
    mkdir -p $B/corpus/$name
    dict=""
    [ -f tests/fuzz/$name.dict ] && dict="-dict=tests/fuzz/$name.dict"
    if ! ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
        $B/bin/fuzz_$name -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix=$B/crash/$name- $dict $B/corpus/$name tests/fuzz/corpus/$name \
        >$B/$name.log 2>&1; then
        echo "fuzz: $name FAILED, see $B/$name.log and $B/crash/" >&2
        tail -30 $B/$name.log >&2
        status=1
    else
        grep -E '^#[0-9]+.*DONE|Done [0-9]+ runs' $B/$name.log | tail -1 | sed "s/^/  $name: /"
    fi
done
exit $status
