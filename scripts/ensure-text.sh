#!/bin/sh
# Make sure Debian's fortunes (English fortune cookies, ~2.5 MB of text) is
# where `make run-text` reads it.  Installs the package when missing and we
# are root; otherwise says exactly what to do.
set -e
[ -f /usr/share/games/fortunes/fortunes ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's fortunes ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fortunes >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fortunes >/dev/null; }
    exit 0
fi
echo "fortunes is missing: run 'sudo apt-get install fortunes', or give nabla train --text your own files." >&2
exit 1
