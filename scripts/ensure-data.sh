#!/bin/sh
# Make sure Fashion-MNIST is where `nabla train` looks for it: --data DIR,
# else $NABLA_DATA, else Debian's dataset-fashion-mnist.  Installs the Debian
# package when missing and we are root; otherwise says exactly what to do.
set -e
dir=${NABLA_DATA:-/usr/share/datasets/fashion-mnist}
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ ! -f "$dir/$f.gz" ] && [ ! -f "$dir/$f" ]; then missing=1; fi
done
[ -z "$missing" ] && exit 0
if [ -n "$NABLA_DATA" ]; then
    echo "Fashion-MNIST is not in \$NABLA_DATA=$NABLA_DATA (needs train-images-idx3-ubyte[.gz] and the other three files)" >&2
    exit 1
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's dataset-fashion-mnist ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; }
    exit 0
fi
echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist'," >&2
echo "or set NABLA_DATA to a folder holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz," >&2
echo "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz." >&2
exit 1
