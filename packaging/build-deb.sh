#!/bin/bash
# make deb: build the Debian package from packaging/debian/ with debhelper.
# The tree is copied to build/deb/src/portcullis-VERSION/ with packaging/debian
# as its debian/, dpkg-buildpackage -us -uc -b runs there (it writes its
# results to the parent directory), and the results are moved to build/deb/.
# The working tree is never touched.  Prints the path of the .deb last.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
out=$top/build/deb
version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
upstream=${version%%-*}
make_version=$(sed -n 's/^VERSION *:= *//p' Makefile)
if [ "$upstream" != "$make_version" ]; then
    echo "deb: packaging/debian/changelog says $version but the Makefile's VERSION is $make_version" >&2
    exit 1
fi
src=$out/src
stage=$src/portcullis-$upstream
rm -rf "$src"
mkdir -p "$stage"

# the tree as it is now (tracked and new files, not ignored ones, not build/)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        grep -zv -e '^build/' -e '^packaging/debian/' |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf - | tar -xf - -C "$stage"
else
    tar --exclude=./build --exclude=./.git --exclude=./packaging/debian -cf - . | tar -xf - -C "$stage"
fi
cp -a packaging/debian "$stage/debian"

jobs=$(nproc 2>/dev/null || echo 1)
(
    cd "$stage"
    DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b
) > "$out/build.log" 2>&1 || {
    tail -40 "$out/build.log" >&2
    echo "deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
    exit 1
}
rm -f "$out"/portcullis_*.deb "$out"/portcullis_*.changes "$out"/portcullis_*.buildinfo \
    "$out"/portcullis-dbgsym_*.deb
# the -dbgsym package (detached debug symbols) comes along for crash analysis
mv "$src"/portcullis_"$version"_*.deb "$src"/portcullis_"$version"_*.changes \
    "$src"/portcullis_"$version"_*.buildinfo "$src"/portcullis-dbgsym_"$version"_*.deb "$out"/
rm -rf "$stage"
deb=$(ls "$out"/portcullis_"$version"_*.deb)
echo "deb: $deb ($(du -k "$deb" | cut -f1) KiB; log: $out/build.log)"
