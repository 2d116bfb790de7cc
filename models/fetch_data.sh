#!/bin/sh
# fetch_data.sh — put Tiny Shakespeare into data/tinyshakespeare.txt (never committed).
# Sources, in order: $NABLA_DATA (a path to the file), ../shared/data/tinyshakespeare.txt next to
# the checkout, then the canonical char-rnn URL. The result is checked by size (1,115,394 bytes).
set -e
cd "$(dirname "$0")/.."
out=data/tinyshakespeare.txt
want=1115394
mkdir -p data
size() { wc -c < "$1" | tr -d ' '; }
if [ -f "$out" ] && [ "$(size "$out")" = "$want" ]; then
    echo "fetch_data: $out is present"
    exit 0
fi
for src in "${NABLA_DATA:-}" ../shared/data/tinyshakespeare.txt; do
    if [ -n "$src" ] && [ -f "$src" ]; then
        cp "$src" "$out.tmp" && mv "$out.tmp" "$out"
        echo "fetch_data: copied $src"
        break
    fi
done
if [ ! -f "$out" ]; then
    url=https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt
    echo "fetch_data: downloading $url"
    if command -v curl >/dev/null 2>&1; then curl -fsSL "$url" -o "$out.tmp"
    else wget -q -O "$out.tmp" "$url"; fi
    mv "$out.tmp" "$out"
fi
if [ "$(size "$out")" != "$want" ]; then
    echo "fetch_data: $out has $(size "$out") bytes, expected $want" >&2
    exit 1
fi
