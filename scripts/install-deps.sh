#!/bin/bash
# install-deps.sh -- install the Debian 12 packages novalet's build and tests need.
#
# Idempotent: a package already installed is left alone, and nothing is done at all when every
# package is present. `apt-get update` runs only when a missing package (or the guest kernel that
# guest/build-guest-image.sh downloads) has no install candidate in the current package lists, so
# a warm machine never touches the network.
#
# Needs root only when something is missing.
set -euo pipefail

# What each group is for:
#   real parts      rabbitmq-server, libvirtd + virtlogd, QEMU (x86 only: libvirtd probes every
#                   qemu-system-* binary on a cold start, so fewer emulators = faster start),
#                   tini (libvirtd's reaper where PID 1 is not systemd: see scripts/parts.sh)
#   build           libvirt-dev + pkg-config for the cgo libvirt binding
#   image cache     qemu-utils (qemu-img), genisoimage (config drive, as nova builds it)
#   wire tests      Debian's python3-nova and python3-oslo.messaging are the reference peers
#   unit checks     systemd (systemd-analyze verify), iproute2 (ip, ss), procps (pgrep, ps)
#   demo and e2e    openssh-client (ssh into the guest, ssh-keygen for test-key), curl, jq
#   test guest      what guest/build-guest-image.sh assembles the guest from
#   the .deb        binutils (objdump: the binary's library versions), man-db + groff-base (the
#                   man page is checked), logrotate, adduser (scripts/deb.sh, deb-test.sh)
PACKAGES=(
  rabbitmq-server
  libvirt-daemon-system libvirt-clients libvirt-dev pkg-config
  qemu-system-x86 qemu-utils genisoimage tini
  iproute2 procps systemd openssh-client curl jq
  python3-oslo.messaging python3-nova
  busybox-static dropbear-bin syslinux syslinux-common mtools dosfstools fdisk cpio kmod gzip
  binutils man-db groff-base logrotate adduser
)

# The guest builder downloads (never installs) this kernel meta package's target with
# `apt-get download`, so the package lists must know it too.
GUEST_KERNEL_META=linux-image-amd64

APT_OPTS=(-y -o DPkg::Lock::Timeout=900 --no-install-recommends)
export DEBIAN_FRONTEND=noninteractive

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# has_candidate PKG: true when the current package lists offer a version of PKG.
has_candidate() {
  local c
  c=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/{print $2; exit}')
  [ -n "$c" ] && [ "$c" != "(none)" ]
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done

need_update=0
for p in "${missing[@]}" "$GUEST_KERNEL_META"; do
  has_candidate "$p" || { need_update=1; break; }
done

if [ ${#missing[@]} -eq 0 ] && [ $need_update -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: must run as root to install: ${missing[*]:-(package lists only)}" >&2
  exit 1
fi

if [ $need_update -eq 1 ]; then
  echo "install-deps: apt-get update (package lists lack a candidate)"
  apt-get -o DPkg::Lock::Timeout=900 update
fi

if [ ${#missing[@]} -gt 0 ]; then
  # The packages' services must not start: a Debian rabbitmq-server or libvirtd started by its
  # init script would hold 127.0.0.1:5672 or /run/libvirt and stop scripts/parts.sh from
  # running its own. Container images often ship a policy-rc.d that says so ("exit 101"); where
  # there is none, put one in place for the duration of the install.
  POLICY=/usr/sbin/policy-rc.d
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# temporary, from novalet scripts/install-deps.sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    trap 'rm -f "$POLICY"' EXIT
  fi
  echo "install-deps: installing ${missing[*]}"
  apt-get install "${APT_OPTS[@]}" "${missing[@]}"
fi

echo "install-deps: done"
