#!/bin/sh
# Check that every C file of the tree is formatted as .clang-format says, and
# list the ones that are not; changes nothing.  Exit 0 when all are, 1 when
# some are not, 2 when clang-format is missing.
#   sh scripts/check-format.sh            every tracked .c/.h/.inc file
#   sh scripts/check-format.sh FILE...    only these
# CLANG_FORMAT picks the binary (default: clang-format).
cd "$(dirname "$0")/.." || exit 2
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null 2>&1; then
    echo "check-format: $cf not found (apt-get install clang-format)" >&2
    exit 2
fi
if [ $# -eq 0 ]; then
    set -- $(git ls-files '*.c' '*.h' '*.inc')
fi
bad=0
for f in "$@"; do
    if ! "$cf" --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f"
        bad=$((bad + 1))
    fi
done
if [ "$bad" -gt 0 ]; then
    echo "check-format: $bad of $# files differ from .clang-format ($cf -i --style=file FILE fixes one)"
    exit 1
fi
echo "check-format: $# files formatted"
