#!/bin/sh
# Builds crossway against wayland-protocols from bookworm-backports (which
# has wp_security_context_v1 and the other protocols bookworm's 1.31 lacks)
# and runs the limits suite, security-context tests included.
#
#   tests/limits/with-new-protocols.sh [BUILD_DIR]
#
# The package is downloaded and unpacked in a temporary directory; nothing is
# installed. When it cannot be downloaded, the script says why and exits 77
# (skipped), not 1.
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-${TMPDIR:-/tmp}/crossway-build-new-protocols}
work=$(mktemp -d "${TMPDIR:-/tmp}/crossway-wp.XXXXXX")
trap 'rm -rf "$work"' EXIT

skip() {
	echo "SKIP: $*"
	exit 77
}

command -v apt-get >/dev/null 2>&1 || skip "apt-get is not available"
command -v dpkg >/dev/null 2>&1 || skip "dpkg is not available"
(cd "$work" && apt-get download -t bookworm-backports wayland-protocols >"$work/download.log" 2>&1) ||
	skip "cannot download wayland-protocols from bookworm-backports: $(tail -n 1 "$work/download.log")"
deb=$(ls "$work"/wayland-protocols_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || skip "apt-get download produced no package"
dpkg -x "$deb" "$work/root"

pc="$work/root/usr/share/pkgconfig/wayland-protocols.pc"
[ -f "$pc" ] || skip "the package has no wayland-protocols.pc"
[ -f "$work/root/usr/share/wayland-protocols/staging/security-context/security-context-v1.xml" ] ||
	skip "this wayland-protocols has no security-context-v1"
# The .pc names /usr as its prefix: point it at the unpacked tree. The build
# keeps absolute paths to the XML, so the tree is kept next to the build.
mkdir -p "$build"
rm -rf "$build/wayland-protocols"
mv "$work/root" "$build/wayland-protocols"
pc="$build/wayland-protocols/usr/share/pkgconfig/wayland-protocols.pc"
sed -i "s|^prefix=.*|prefix=$build/wayland-protocols/usr|" "$pc"
version=$(sed -n 's/^Version: *//p' "$pc")
echo "Using wayland-protocols $version from $build/wayland-protocols"

export PKG_CONFIG_PATH="$build/wayland-protocols/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# meson must be run from the source tree.
cd "$src"
if [ -f "$build/build.ninja" ]; then
	meson setup --reconfigure "$build" -Dwerror=true
else
	meson setup "$build" -Dwerror=true
fi
grep -q '#define HAVE_SECURITY_CONTEXT 1' "$build/crossway-config.h" ||
	{ echo "FAIL: the build did not pick up security-context-v1"; exit 1; }
ninja -C "$build"
meson test -C "$build" --suite limits --print-errorlogs
