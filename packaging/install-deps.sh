#!/bin/bash
# Install every package listed in the deps file (apt-get update once).
set -euo pipefail
list=${1:-packaging/deps.txt}
pkgs=$(sed -e 's/#.*//' "$list" | tr -s ' \n' ' ')
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
missing=$(dpkg-query -W -f='${Package} ${Status}\n' $pkgs 2>/dev/null | awk '$4!="installed"{print $1}' || true)
# packages dpkg-query does not know at all are missing too
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ -z "${missing// /}" ]; then
    echo "deps: all $(echo $pkgs | wc -w) packages installed"
    exit 0
fi
echo "deps: installing:$missing"
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends $missing
