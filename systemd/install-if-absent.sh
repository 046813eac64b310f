#!/bin/sh
# install-if-absent.sh SOURCE DIR NAME: installs SOURCE as DIR/NAME (under $DESTDIR) with
# mode 0644 unless a file of that name is already there, so that a reinstall never
# overwrites what an administrator has edited. Run by `meson install`.
set -eu
[ $# -eq 3 ] || { echo "usage: $0 SOURCE DIR NAME" >&2; exit 64; }
dir="${DESTDIR:-}$2"
if [ -e "$dir/$3" ]; then
    echo "Keeping $dir/$3 (already present)"
    exit 0
fi
mkdir -p "$dir"
install -m 0644 "$1" "$dir/$3"
echo "Installing $dir/$3"
