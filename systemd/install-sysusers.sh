#!/bin/sh
# install-sysusers.sh NAME: after `meson install` onto the running system (no DESTDIR), creates
# the users of sysusers.d/NAME at once, as a package's postinst would. A staged install
# (DESTDIR set) leaves that to the package.
set -eu
[ -z "${DESTDIR:-}" ] || exit 0
if [ "$(id -u)" -eq 0 ] && command -v systemd-sysusers >/dev/null; then
    systemd-sysusers "$1"
else
    echo "Run 'systemd-sysusers $1' as root to create the gpprobe user" >&2
fi
