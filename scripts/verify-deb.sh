#!/usr/bin/env bash
# Verifies the Debian package on a fresh Debian 12 root without the Swift toolchain: debootstrap a
# minimal bookworm into a folder, install the package with apt (which fetches its Depends), run
# `polyarchiv --version`, `validate` and `plan` on the example configuration and a real `apply`, then
# remove and purge it and check that nothing is left. lintian must report no error. The systemd units
# are checked offline with the root's own systemd (installed there; it does not run): `systemd-analyze
# verify`, and `systemd-analyze security` must not rate the service's exposure above 3.1.
# Needs root and the Debian mirror. Usage: scripts/verify-deb.sh [PACKAGE.deb] [ROOT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
package=${1:-}
[ -n "$package" ] || package=$(scripts/build-deb.sh | tail -1)
target=${2:-/tmp/polyarchiv-debian12}
# systemd-analyze security's threshold, in tenths: the hardened service rates 3.1 ("OK"), and a
# change that loosens it fails here.
security_threshold=31
for tool in debootstrap lintian; do
    command -v $tool >/dev/null || apt-get install -y -qq -o DPkg::Lock::Timeout=600 debootstrap lintian >/dev/null
done

echo "== lintian"
lintian --fail-on error "$package"

if [ ! -x "$target/usr/bin/apt-get" ]; then
    echo "== debootstrap bookworm into $target"
    rm -rf "$target"
    debootstrap --variant=minbase bookworm "$target" http://deb.debian.org/debian >/dev/null
fi
cleanup() { umount "$target/dev/pts" "$target/proc" 2>/dev/null || true; }
trap cleanup EXIT
mount -t proc proc "$target/proc"
mkdir -p "$target/dev/pts" && mount -t devpts devpts "$target/dev/pts"
in_root() { chroot "$target" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

echo "== no Swift toolchain in the root"
! in_root sh -c 'command -v swift' >/dev/null

echo "== install"
cp "$package" "$target/tmp/polyarchiv.deb"
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq /tmp/polyarchiv.deb >/dev/null
in_root polyarchiv --version
test "$(stat -c %a "$target/var/lib/polyarchiv")" = 700
test -f "$target/lib/systemd/system/polyarchiv.timer"
test -f "$target/usr/share/man/man1/polyarchiv.1.gz"
# The service sees /var/backups read-only, so the package makes the example configuration's folder.
test "$(stat -c %a "$target/var/backups/polyarchiv")" = 700

echo "== systemd units (offline)"
in_root sh -c 'command -v systemd-analyze' >/dev/null \
    || in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
# --man=no: the root has no man (the page itself is checked above).
in_root systemd-analyze verify --man=no /lib/systemd/system/polyarchiv.service /lib/systemd/system/polyarchiv.timer
if ! security=$(in_root systemd-analyze security --offline=true --threshold=$security_threshold \
        /lib/systemd/system/polyarchiv.service 2>&1); then
    echo "$security"
    echo "polyarchiv.service: exposure above $((security_threshold / 10)).$((security_threshold % 10)) (systemd-analyze security)"; exit 1
fi
echo "$security" | tail -1
in_root polyarchiv validate -q
in_root polyarchiv plan
in_root polyarchiv apply
ls "$target"/var/backups/polyarchiv/archives/etc/

echo "== remove, then purge"
in_root apt-get remove -y -qq polyarchiv >/dev/null
test ! -e "$target/usr/bin/polyarchiv"
test -f "$target/etc/polyarchiv/polyarchiv.yaml"   # a conffile stays until purge
in_root apt-get purge -y -qq polyarchiv >/dev/null
test ! -e "$target/etc/polyarchiv/polyarchiv.yaml"
test ! -e "$target/var/lib/polyarchiv"
# Purge keeps the backups (here those of the apply above); they go, so the next check starts without them.
test -d "$target/var/backups/polyarchiv/archives"
rm -rf "$target/var/backups/polyarchiv"
echo "verified: $package"
