#!/bin/bash
# deb.sh [OUTDIR] -- build novalet_<version>_amd64.deb with dpkg-deb (make deb). OUTDIR defaults
# to bin/. Prints the .deb's path on the last line.
#
# What goes in (see README, "Install from the .deb"):
#   /usr/bin/novalet                                   the binary (cgo: libvirt0, libc6)
#   /lib/systemd/system/novalet.service                systemd/novalet.service
#   /etc/logrotate.d/nova                              systemd/novalet.logrotate (a conffile; the
#                                                      file says why it is not named novalet)
#   /usr/share/man/man8/novalet.8.gz                   from README.md and the binary's usage
#                                                      (internal/manpage)
#   /usr/share/bash-completion/completions/novalet     commands and flags from the binary
#   /usr/share/doc/novalet/{copyright,changelog.gz}
# The maintainer scripts (packaging/deb/) create user and group nova as Debian's nova-common
# does, and neither enable nor start the unit: taking a node over is the operator's step
# (systemctl disable --now nova-compute && systemctl mask nova-compute, then enable novalet).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
OUT=${1:-bin}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# DESCRIBE: v1.2.3-4-gabc1234[-dirty] after a tag, abc1234[-dirty] before the first one
DESCRIBE=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
# debversion: a Debian version (a digit first; '~' sorts before a release, '+' after)
debversion() {
  local d=$DESCRIBE dirty= v
  case $d in *-dirty) dirty=+dirty; d=${d%-dirty} ;; esac
  if ! git describe --tags --abbrev=0 >/dev/null 2>&1; then
    # no tag: 0.0~git<commit time>.<hash>, ordered by commit time
    v="0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d.%H%M%S HEAD).$d"
  elif [[ $d =~ ^v?([0-9][0-9A-Za-z.]*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
    v="${BASH_REMATCH[1]}+git${BASH_REMATCH[2]}.${BASH_REMATCH[3]}"
  elif [[ $d =~ ^v?([0-9][0-9A-Za-z.]*)$ ]]; then
    v=${BASH_REMATCH[1]}
  else
    echo "deb.sh: tag $d does not start with a digit (after an optional v)" >&2
    exit 1
  fi
  echo "$v$dirty"
}
VERSION=$(debversion)
ARCH=$(dpkg --print-architecture)
DATE=$(git log -1 --format=%cd --date=format:%Y-%m-%d HEAD)

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
R=$STAGE/root
install -d "$R/DEBIAN" "$R/usr/bin" "$R/lib/systemd/system" "$R/etc/logrotate.d" \
  "$R/usr/share/man/man8" "$R/usr/share/bash-completion/completions" "$R/usr/share/doc/novalet"

go build -ldflags "-X main.version=$DESCRIBE" -o "$R/usr/bin/novalet" ./cmd/novalet
chmod 0755 "$R/usr/bin/novalet"
install -m 0644 systemd/novalet.service "$R/lib/systemd/system/novalet.service"
install -m 0644 systemd/novalet.logrotate "$R/etc/logrotate.d/nova"

# the man page and the completion come from what the binary itself says
"$R/usr/bin/novalet" help >"$STAGE/usage.txt"
"$R/usr/bin/novalet" run -h >"$STAGE/flags.txt" 2>&1 || true
go run ./internal/manpage/mkman -readme README.md -usage "$STAGE/usage.txt" -flags "$STAGE/flags.txt" \
  -version "$VERSION" -date "$DATE" >"$STAGE/novalet.8"
gzip -9n <"$STAGE/novalet.8" >"$R/usr/share/man/man8/novalet.8.gz"
bash packaging/deb/completion.sh "$STAGE/usage.txt" "$STAGE/flags.txt" \
  >"$R/usr/share/bash-completion/completions/novalet"
bash -n "$R/usr/share/bash-completion/completions/novalet"

cat >"$R/usr/share/doc/novalet/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: novalet
Source: https://github.com/novalet/novalet

Files: *
Copyright: the novalet authors
License: not-stated
 The novalet repository does not state a license yet.
EOF
{
  echo "novalet ($VERSION) unstable; urgency=medium"
  echo
  echo "  * Built from $DESCRIBE ($(git log -1 --format=%s HEAD | cut -c1-60))."
  echo
  echo " -- novalet builders <novalet@localhost>  $(git log -1 --format=%cD HEAD)"
} | gzip -9n >"$R/usr/share/doc/novalet/changelog.gz"

# Depends: the shared libraries the binary links (minimum versions from its symbol versions)
# and the tools it runs: qemu-img, mkisofs (genisoimage), uptime (procps); adduser for postinst.
glibc=$(objdump -T "$R/usr/bin/novalet" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
libvirt=$(objdump -T "$R/usr/bin/novalet" | grep -o 'LIBVIRT_[0-9.]*' | sed 's/LIBVIRT_//' | sort -uV | tail -1)
for lib in $(objdump -p "$R/usr/bin/novalet" | awk '/NEEDED/ {print $2}'); do
  case $lib in libc.so.6 | libvirt.so.0 | libvirt-qemu.so.0 | libvirt-lxc.so.0 | libvirt-admin.so.0) ;;
  *) echo "deb.sh: the binary needs $lib, which Depends does not cover" >&2; exit 1 ;;
  esac
done
SIZE=$(du -sk --exclude=DEBIAN "$R" | cut -f1)
cat >"$R/DEBIAN/control" <<EOF
Package: novalet
Version: $VERSION
Architecture: $ARCH
Maintainer: novalet builders <novalet@localhost>
Installed-Size: $SIZE
Depends: libc6 (>= $glibc), libvirt0 (>= $libvirt), qemu-utils, genisoimage, procps, adduser
Recommends: libvirt-daemon-system, nova-common
Section: net
Priority: optional
Homepage: https://github.com/novalet/novalet
Description: drop-in replacement for OpenStack Zed's nova-compute
 novalet is a single Go daemon that takes the place of nova-compute on a
 libvirt/QEMU compute node of an OpenStack Zed cloud: it reads the node's
 nova.conf and nova-compute.conf, speaks nova's compute RPC API, and adopts
 the node's servers and records. The unit is installed but neither enabled
 nor started; see novalet(8) for taking a node over and for going back.
EOF
echo /etc/logrotate.d/nova >"$R/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "packaging/deb/$s" "$R/DEBIAN/$s"; done
(cd "$R" && find usr lib etc -type f ! -path 'etc/*' -print0 | sort -z | xargs -0 md5sum) >"$R/DEBIAN/md5sums"

DEB=$OUT/novalet_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$R" "$DEB" >/dev/null
if command -v lintian >/dev/null; then lintian --no-tag-display-limit "$DEB" || true; fi
echo "$DEB"
