#!/bin/sh
# fetch_data.sh — get a text corpus for chargpt, for corpora other than the default.
#   models/fetch_data.sh URL OUT [SHA256]   download URL to OUT (atomically), check SHA256 if given
#   models/fetch_data.sh --check            verify the committed default corpus
# The main job's default, Tiny Shakespeare (1,115,394 bytes, public domain), is committed as
# data/tinyshakespeare.txt with its checksum beside it: `make run` needs no network.
set -e
cd "$(dirname "$0")/.."
check_sum() { # FILE SHA256
    got=$(sha256sum "$1" | cut -d' ' -f1)
    [ "$got" = "$2" ] || { echo "fetch_data: $1 has sha256 $got, expected $2" >&2; return 1; }
}
if [ "${1:-}" = "--check" ]; then
    f=data/tinyshakespeare.txt
    [ -f "$f" ] || { echo "fetch_data: $f is missing (it is committed: git checkout -- $f)" >&2; exit 1; }
    check_sum "$f" "$(cut -d' ' -f1 "$f.sha256")"
    echo "fetch_data: $f is present and intact"
    exit 0
fi
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    sed -n '2,4p' "$0" >&2
    exit 2
fi
url=$1 out=$2 sum=${3:-}
mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
echo "fetch_data: downloading $url"
if command -v curl >/dev/null 2>&1; then
    ok=0; curl -fsSL "$url" -o "$tmp" || ok=$?
else
    ok=0; wget -q -O "$tmp" "$url" || ok=$?
fi
if [ "$ok" -ne 0 ]; then
    echo "fetch_data: could not download $url (exit $ok): is this machine offline? Copy the file to $out by hand." >&2
    exit 1
fi
[ -z "$sum" ] || check_sum "$tmp" "$sum"
mv "$tmp" "$out"
echo "fetch_data: wrote $out ($(wc -c < "$out" | tr -d ' ') bytes)"
