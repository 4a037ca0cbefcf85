#!/usr/bin/env bash
# Builds the Debian package: dist/polyarchiv_VERSION_ARCH.deb, with the release binary linked against a
# static Swift standard library (it runs where the Swift toolchain is not installed), the example
# configuration as a conffile, the state directory, a systemd service and timer, shell completions and
# a man page generated from the same help text as --help. Usage: scripts/build-deb.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
command -v patchelf >/dev/null || apt-get install -y -qq -o DPkg::Lock::Timeout=600 patchelf >/dev/null

swift build -c release --static-swift-stdlib >/dev/null
binary=$(swift build -c release --show-bin-path)/polyarchiv
# The man page from the binary's own help (argument parser's generate-manual tool, a small debug build:
# the package plugin would build a second release binary).
swift build --product generate-manual >/dev/null
pages=$(mktemp -d)
"$(swift build --show-bin-path)/generate-manual" "$binary" --output-directory "$pages" >/dev/null
manual=$pages/polyarchiv.1

version=$("$binary" --version | awk 'NR == 1 {print $2}')
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage" "$pages"' EXIT
root=$stage/polyarchiv
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/etc/polyarchiv" "$root/lib/systemd/system" \
    "$root/usr/share/man/man1" "$root/usr/share/doc/polyarchiv" "$root/usr/share/bash-completion/completions" \
    "$root/usr/share/zsh/vendor-completions" "$root/usr/share/fish/vendor_completions.d"
install -d -m 0700 "$root/var/lib/polyarchiv"
install -m 0755 "$binary" "$root/usr/bin/polyarchiv"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/polyarchiv"
# The toolchain's library path is of no use where the toolchain is not: the Swift runtime is linked in.
patchelf --remove-rpath "$root/usr/bin/polyarchiv"
install -m 0644 packaging/polyarchiv.yaml "$root/etc/polyarchiv/polyarchiv.yaml"
install -m 0644 packaging/systemd/polyarchiv.service packaging/systemd/polyarchiv.timer "$root/lib/systemd/system/"
# mdoc wants paragraph macros, not blank lines (from the help texts' blank lines).
sed 's/^$/.Pp/' "$manual" | gzip -9n > "$root/usr/share/man/man1/polyarchiv.1.gz"
"$binary" --generate-completion-script bash | sed '1{/^#!/d}' > "$root/usr/share/bash-completion/completions/polyarchiv"
"$binary" --generate-completion-script zsh > "$root/usr/share/zsh/vendor-completions/_polyarchiv"
"$binary" --generate-completion-script fish > "$root/usr/share/fish/vendor_completions.d/polyarchiv.fish"
chmod 0644 "$root"/usr/share/*/completions/* "$root"/usr/share/zsh/vendor-completions/* "$root"/usr/share/fish/vendor_completions.d/*
install -m 0644 packaging/debian/copyright "$root/usr/share/doc/polyarchiv/copyright"
gzip -9n -c packaging/debian/changelog > "$root/usr/share/doc/polyarchiv/changelog.gz"
gzip -9n -c README.md > "$root/usr/share/doc/polyarchiv/README.md.gz"
install -d -m 0755 "$root/usr/share/lintian/overrides"
install -m 0644 packaging/debian/lintian-overrides "$root/usr/share/lintian/overrides/polyarchiv"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
echo /etc/polyarchiv/polyarchiv.yaml > "$root/DEBIAN/conffiles"

# Depends: exactly the libraries the binary links, as dpkg-shlibdeps finds them.
mkdir -p "$stage/debian"
printf 'Source: polyarchiv\n\nPackage: polyarchiv\nArchitecture: any\n' > "$stage/debian/control"
(cd "$stage" && dpkg-shlibdeps -O -epolyarchiv/usr/bin/polyarchiv 2>/dev/null) > "$stage/substvars"
depends=$(sed -n 's/^shlibs:Depends=//p' "$stage/substvars")
size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: polyarchiv
Version: $version
Architecture: $arch
Maintainer: polyarchiv maintainers <maintainers@polyarchiv.example.org>
Installed-Size: $size
Depends: $depends
Recommends: zstd, sqlite3
Suggests: restic, rsync, postgresql-client, mariadb-client
Section: admin
Priority: optional
Homepage: https://example.org/polyarchiv
Description: backup orchestrator for servers: files and databases to many destinations
 polyarchiv backs up the data of a server (files, PostgreSQL, MySQL/MariaDB,
 OpenLDAP, Dovecot, SQLite, the output of any command) into collect points (a
 folder, a local git repository, a tar archive) and ships them to backup points
 (git, rsync, archives over file/sftp/ftp/WebDAV/S3, rolling archives with
 retention, restic). One YAML file says what to back up and where, and
 "polyarchiv plan" shows what a run would do before it runs.
CONTROL
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control" "$root/DEBIAN/conffiles"
mkdir -p dist
package=dist/polyarchiv_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$package" >/dev/null
echo "$package"
