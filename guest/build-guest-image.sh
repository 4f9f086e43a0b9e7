#!/bin/bash
# build-guest-image.sh [OUTDIR] [--force] -- build novalet's tiny CirrOS-like test guest.
#
# Made from Debian packages only, so tests need no download from outside Debian:
#   OUTDIR/guest.qcow2   bootable disk (what tests boot: MBR + FAT16 + syslinux + kernel + initrd)
#   OUTDIR/guest.raw     the same disk, raw
#   OUTDIR/vmlinuz       Debian's kernel (linux-image-amd64's target), for direct kernel boot
#   OUTDIR/initrd.img    busybox-static + dropbear + kernel modules, gzip'd cpio; it is the whole OS
#   OUTDIR/cmdline       kernel command line for direct kernel boot
# OUTDIR defaults to <repo>/.cache/guest, where internal/testenv looks for it.
#
# What the guest does at boot (/etc/init.d/rcS, all progress as "guest-init: ..." on ttyS0):
#   - loads virtio / e1000 / ATA / cdrom / iso9660 / vfat / ACPI button modules
#   - reads an OpenStack config drive (label config-2, iso9660 or vfat) when present:
#     "hostname", and "public_keys" -> authorized_keys of root and of user cirros
#   - DHCP with udhcpc on every ethN (keeps trying in the background)
#   - starts dropbear (public keys only) on port 22 when any key was found
#   - busybox acpid turns the ACPI power button (virsh shutdown) into poweroff
#   - prints "guest-init: login prompt ready", the line tests wait for, then a getty on ttyS0
# Users: root (no password on the console) and cirros (uid 1000, home /home/cirros, shell /bin/sh,
# password gocubsgo as on CirrOS).
#
# No loop devices or mounts: the disk is assembled with sfdisk, mkfs.fat --offset, mtools and
# syslinux --offset, so only `apt-get download` touches the system (needs package lists; run
# scripts/install-deps.sh first for the tools).
# Idempotent: a stamp (this script's hash + kernel version + disk size) makes a re-run a no-op;
# --force rebuilds. The kernel .deb is kept in OUTDIR/.cache.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=
FORCE=0
for a in "$@"; do
  case $a in
  --force) FORCE=1 ;;
  -*) echo "usage: $0 [OUTDIR] [--force]" >&2; exit 2 ;;
  *) OUT=$a ;;
  esac
done
OUT=${OUT:-$HERE/../.cache/guest}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# One build per OUTDIR at a time (make guest may run from several shells).
exec 9>"$OUT/.lock"
flock -w 900 9 || { echo "build-guest-image: $OUT is locked by another build" >&2; exit 1; }
CACHE=$OUT/.cache
WORK=$OUT/.work
DISK_MIB=${DISK_MIB:-20} # 1 MiB for the MBR gap, the rest is the FAT partition
# Fixed timestamps so initrd.img is bit-reproducible.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
CMDLINE="console=tty0 console=ttyS0,115200 panic=-1"

for tool in /bin/busybox /usr/sbin/dropbear sfdisk mkfs.fat mcopy syslinux cpio depmod modprobe \
  qemu-img dpkg-deb gzip /usr/lib/syslinux/mbr/mbr.bin; do
  if [[ $tool == /* ]]; then [ -e "$tool" ]; else command -v "$tool" >/dev/null; fi ||
    { echo "build-guest-image: $tool missing: run scripts/install-deps.sh" >&2; exit 1; }
done

# ---- kernel: resolve linux-image-amd64 to today's versioned package ---------------------------
KPKG=${KPKG:-$(apt-cache depends linux-image-amd64 2>/dev/null |
  awk '/Depends: linux-image-[0-9]/{print $2; exit}')}
[ -n "$KPKG" ] || { echo "build-guest-image: cannot resolve linux-image-amd64 (run scripts/install-deps.sh)" >&2; exit 1; }
KVER=${KPKG#linux-image-}

STAMP="$(sha256sum "$0" | cut -c1-16) $KVER $DISK_MIB"
if [ $FORCE = 0 ] && [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$STAMP" ]; then
  ok=1
  for f in guest.qcow2 guest.raw vmlinuz initrd.img cmdline; do [ -s "$OUT/$f" ] || ok=0; done
  if [ $ok = 1 ]; then echo "build-guest-image: up to date: $OUT (kernel $KVER)"; exit 0; fi
fi

# The .deb is downloaded, never installed: the host's own kernel is none of our business.
mkdir -p "$CACHE"
if ! compgen -G "$CACHE/${KPKG}_*.deb" >/dev/null; then
  echo "build-guest-image: downloading $KPKG"
  (cd "$CACHE" && apt-get download "$KPKG")
  # An older kernel's .deb is dead weight once the lists moved on.
  find "$CACHE" -maxdepth 1 -name 'linux-image-*.deb' ! -name "${KPKG}_*.deb" -delete
fi
KDEB=$(compgen -G "$CACHE/${KPKG}_*.deb" | head -1)
KX=$CACHE/kernel-$KVER # unpacked tree (~430 MB): removed at the end
rm -rf "$KX"
mkdir -p "$KX"
dpkg-deb -x "$KDEB" "$KX"
depmod -b "$KX" "$KVER"

# ---- initramfs root ---------------------------------------------------------------------------
rm -rf "$WORK"
R=$WORK/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,etc/acpi/PWRF,etc/dropbear,proc,sys,dev,run,tmp} \
  "$R"/{var/log,root/.ssh,home/cirros/.ssh,mnt/config,lib/modules,lib64}
ln -s /run "$R/var/run"
chmod 1777 "$R/tmp"
chmod 700 "$R/root" "$R/root/.ssh" "$R/home/cirros/.ssh"

cp /bin/busybox "$R/bin/busybox"
for applet in $(/bin/busybox --list-full); do
  [ -e "$R/$applet" ] || ln -s /bin/busybox "$R/$applet"
done
ln -sf /bin/busybox "$R/init" # the kernel runs /init: busybox init reads /etc/inittab

# dropbear is dynamically linked: bring its libraries and the loader along. glibc >= 2.34 has
# nss_files built in, so getpwnam works without libnss_files.
cp /usr/sbin/dropbear "$R/usr/sbin/dropbear"
for lib in $(ldd /usr/sbin/dropbear | awk '/=>/{print $3} /ld-linux/{print $1}' | sort -u); do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
[ -e "$R/lib64/ld-linux-x86-64.so.2" ] || cp -L /lib64/ld-linux-x86-64.so.2 "$R/lib64/"

# Every driver in Debian's kernel is a module: copy the ones a libvirt guest needs with their
# dependencies, in load order.
MODS="virtio_pci virtio_blk virtio_net virtio_scsi virtio_balloon virtio_console virtio_rng
      e1000 ata_piix ahci sd_mod sr_mod isofs vfat nls_cp437 nls_utf8 nls_ascii button evdev"
for m in $MODS; do
  modprobe -d "$KX" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
  rel=${ko#"$KX/lib/modules/$KVER/"}
  mkdir -p "$R/lib/modules/$(dirname "$rel")"
  cp "$ko" "$R/lib/modules/$rel"
  echo "$rel"
done >"$R/lib/modules/load.list"

# ---- guest configuration ----------------------------------------------------------------------
CIRROS_HASH=$(/bin/busybox mkpasswd -m sha512 gocubsgo novaletcirros0) # fixed salt: reproducible
cat >"$R/etc/passwd" <<EOF
root::0:0:root:/root:/bin/sh
cirros:$CIRROS_HASH:1000:1000:cirros:/home/cirros:/bin/sh
sshd:x:74:74:sshd:/var/empty:/bin/false
EOF
cat >"$R/etc/group" <<'EOF'
root:x:0:
tty:x:5:
cirros:x:1000:
EOF
printf '/bin/sh\n/bin/ash\n' >"$R/etc/shells" # dropbear refuses users whose shell is not listed
echo guest >"$R/etc/hostname"
printf 'novalet test guest (busybox, dropbear, kernel %s)\n' "$KVER" >"$R/etc/issue"
printf 'export PS1="\\u@\\h:\\w\\$ "\nexport PATH=/sbin:/bin:/usr/sbin:/usr/bin\n' >"$R/etc/profile"

cat >"$R/etc/inittab" <<'EOF'
::sysinit:/etc/init.d/rcS
ttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100
tty1::respawn:/sbin/getty 38400 tty1
::ctrlaltdel:/sbin/reboot
::shutdown:/etc/init.d/rcK
EOF

cat >"$R/etc/init.d/rcS" <<'EOF'
#!/bin/sh
# Boot script of the novalet test guest. Every line starting "guest-init:" goes to the serial
# console, which libvirt logs to the instance's console.log.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/udhcpc
echo "guest-init: start (uptime $(cut -d' ' -f1 /proc/uptime)s)"
while read -r m; do insmod "/lib/modules/$m" 2>/dev/null; done </lib/modules/load.list
hostname guest
ip link set lo up
sleep 0.3 # let virtio and ATA devices appear

# --- config drive: by label, else any cdrom/second disk holding the metadata file ---
MD_REL=openstack/latest/meta_data.json
CD=$(findfs LABEL=config-2 2>/dev/null)
if [ -z "$CD" ]; then
  for d in /dev/sr0 /dev/sr1 /dev/vdb /dev/vdc /dev/sdb; do
    [ -b "$d" ] || continue
    if mount -o ro "$d" /mnt/config 2>/dev/null; then
      [ -f "/mnt/config/$MD_REL" ] && CD=$d
      umount /mnt/config
      [ -n "$CD" ] && break
    fi
  done
fi
: >/root/.ssh/authorized_keys
if [ -n "$CD" ] && mount -o ro "$CD" /mnt/config 2>/dev/null && [ -f "/mnt/config/$MD_REL" ]; then
  MD=$(tr -d '\n' <"/mnt/config/$MD_REL")
  H=$(printf "%s\n" "$MD" | sed -n 's/.*"hostname": *"\([^".]*\)[^"]*".*/\1/p')
  [ -n "$H" ] && hostname "$H"
  # "public_keys": {"name": "ssh-ed25519 AAAA... comment\n", ...}: one key per value.
  printf "%s\n" "$MD" | sed -n 's/.*"public_keys": *{\([^}]*\)}.*/\1/p' |
    grep -o '"\(ssh-[a-z0-9]*\|ecdsa-[a-z0-9-]*\|sk-[a-z0-9@.-]*\) [^"]*"' |
    sed -e 's/^"//' -e 's/"$//' -e 's/\\n$//' >/root/.ssh/authorized_keys
  echo "guest-init: config drive $CD hostname=$(hostname) keys=$(grep -c . /root/.ssh/authorized_keys)"
  U=$(printf "%s\n" "$MD" | sed -n 's/.*"uuid": *"\([^"]*\)".*/\1/p')
  [ -n "$U" ] && echo "guest-init: instance uuid=$U"
  umount /mnt/config
else
  [ -n "$CD" ] && umount /mnt/config 2>/dev/null
  echo "guest-init: no config drive"
fi
hostname >/etc/hostname
# cpio packs everything as root: give cirros its home and the same keys as root.
cp /root/.ssh/authorized_keys /home/cirros/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys /home/cirros/.ssh/authorized_keys
chmod 700 /home/cirros /home/cirros/.ssh
chown -R 1000:1000 /home/cirros

# --- network: DHCP on every ethN; udhcpc keeps trying in the background ---
for n in /sys/class/net/eth*; do
  [ -e "$n" ] || continue
  i=${n##*/}
  ip link set "$i" up
  udhcpc -i "$i" -x hostname:"$(hostname)" -t 4 -T 1 -A 5 -b -S \
    -s /etc/udhcpc.script -p "/run/udhcpc/$i.pid" >/dev/null 2>&1
  echo "guest-init: $i mac=$(cat "$n/address") ip=$(ip -4 -o addr show dev "$i" | awk '{print $4}' | head -1)"
done

# --- sshd: public keys only (-s), host keys made on first connection (-R) ---
if [ -s /root/.ssh/authorized_keys ]; then
  dropbear -R -s -p 22 -P /run/dropbear.pid && echo "guest-init: dropbear sshd started on port 22"
fi

# --- ACPI power button (virsh shutdown) -> poweroff ---
acpid -c /etc/acpi -l /run/acpid.log -p /run/acpid.pid 2>/dev/null
echo "guest-init: uptime $(cut -d' ' -f1 /proc/uptime)s"
echo "guest-init: login prompt ready"
EOF

cat >"$R/etc/init.d/rcK" <<'EOF'
#!/bin/sh
echo "guest-init: shutting down"
[ -f /run/dropbear.pid ] && kill "$(cat /run/dropbear.pid)" 2>/dev/null
for p in /run/udhcpc/*.pid; do [ -f "$p" ] && kill -USR2 "$(cat "$p")" 2>/dev/null; done
sync
EOF

cat >"$R/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "guest-init: ACPI power button -> poweroff" >/dev/console
/sbin/poweroff
EOF

cat >"$R/etc/udhcpc.script" <<'EOF'
#!/bin/sh
# udhcpc hook; $1 = deconfig | bound | renew | leasefail | nak
case "$1" in
deconfig)
  ip -4 addr flush dev "$interface"
  ip link set "$interface" up
  ;;
bound | renew)
  ip -4 addr flush dev "$interface"
  ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast $broadcast} dev "$interface"
  if [ -n "$router" ]; then
    ip route del default 2>/dev/null
    for r in $router; do ip route add default via "$r" dev "$interface" && break; done
  fi
  : >/etc/resolv.conf
  [ -n "$domain" ] && echo "search $domain" >>/etc/resolv.conf
  for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
  [ "$1" = bound ] && echo "guest-init: dhcp lease $interface $ip/${mask:-24} router=${router:-none}" >/dev/console
  ;;
esac
exit 0
EOF
chmod 755 "$R/etc/init.d/rcS" "$R/etc/init.d/rcK" "$R/etc/acpi/PWRF/00000080" "$R/etc/udhcpc.script"

# ---- pack the initramfs -----------------------------------------------------------------------
find "$R" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$R" && find . -print0 | LC_ALL=C sort -z |
  cpio --null -o -H newc --owner=0:0 --reproducible --quiet) | gzip -9 -n >"$WORK/initrd.img"
cp "$KX/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
echo "$CMDLINE" >"$WORK/cmdline"

# ---- bootable disk: MBR, one bootable FAT16 partition from 1 MiB, syslinux --------------------
IMG=$WORK/guest.raw
truncate -s "${DISK_MIB}M" "$IMG"
echo 'start=2048, type=e, bootable' | sfdisk -q --label dos "$IMG"
mkfs.fat -F 16 -n GUESTBOOT -i 2a5e0001 --offset 2048 "$IMG" $(((DISK_MIB - 1) * 1024)) >/dev/null
cat >"$WORK/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT guest
PROMPT 0
TIMEOUT 0
LABEL guest
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND $CMDLINE
EOF
export MTOOLS_SKIP_CHECK=1
mcopy -i "$IMG@@1M" "$WORK/vmlinuz" "$WORK/initrd.img" "$WORK/syslinux.cfg" ::/
syslinux --offset $((2048 * 512)) --install "$IMG"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$IMG" bs=440 count=1 conv=notrunc status=none
qemu-img convert -f raw -O qcow2 -c "$IMG" "$WORK/guest.qcow2"

# Replace the outputs only now, each by rename, so a failed build leaves the old image usable.
rm -f "$OUT/.stamp"
for f in vmlinuz initrd.img cmdline guest.raw guest.qcow2; do mv -f "$WORK/$f" "$OUT/$f"; done
rm -rf "$WORK" "$KX"
echo "$STAMP" >"$OUT/.stamp"
echo "build-guest-image: built $OUT (kernel $KVER)"
ls -l "$OUT"/guest.qcow2 "$OUT"/guest.raw "$OUT"/vmlinuz "$OUT"/initrd.img
