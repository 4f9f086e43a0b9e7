#!/bin/bash
# deb-test.sh -- the package test (make test's "package" step; issue 16, item 8): build the .deb
# (scripts/deb.sh), install it on this machine with dpkg -i, check its files, owners, man page,
# completion and conffile, that user nova and nova's directories are as they were, run
# `novalet check` from /usr/bin, run the unit's ExecStart command line, then purge the package
# and check that only what Debian policy keeps is left. The machine ends as it was.
#
# The unit's command line is run exactly as the installed unit writes it, but in a private
# mount namespace where /etc/nova/nova.conf is a copy whose transport_url points at a closed
# port (127.0.0.1:1), whose state_path is a temp directory, host is "novalet-deb-test" and
# [novalet] metrics_listen is empty, and where /var/log/nova is a temp directory. So it reads
# both of the unit's files and writes the unit's --log-file, and cannot register, consume a
# queue, take the host lock or the metrics port of a novalet (tests, demo) on this host: it
# stays in its broker retry loop until it is sent SIGTERM.
#
# Refuses (fails) when novalet is already installed or a file the package ships already exists:
# it never overwrites what an operator put there.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "deb-test: must run as root (dpkg -i)" >&2; exit 1; }

FILES=(/usr/bin/novalet /lib/systemd/system/novalet.service /etc/logrotate.d/nova
  /usr/share/man/man8/novalet.8.gz /usr/share/bash-completion/completions/novalet
  /usr/share/doc/novalet/copyright /usr/share/doc/novalet/changelog.gz)
FAILS=0
fail() { echo "deb-test: FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { echo "deb-test: ok: $*"; }
die() { echo "deb-test: $*" >&2; exit 1; }

if dpkg-query -W -f='${db:Status-Abbrev}' novalet 2>/dev/null | grep -q '^[ihc]'; then
  die "the novalet package is installed on this machine: not touching it"
fi
for f in "${FILES[@]}"; do [ ! -e "$f" ] || die "$f exists and belongs to no novalet package: not overwriting it"; done
getent passwd nova >/dev/null || die "no user nova: Debian's nova-common is expected on this machine"

# what must be the same after install and after purge
snapshot() {
  getent passwd nova
  getent group nova
  stat -c '%n %U:%G %a' /var/lib/nova /var/lib/nova/instances /var/log/nova
}
BEFORE=$(snapshot)

TMP=$(mktemp -d)
INSTALLED=0 PID=
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null || true; fi
  if [ "$INSTALLED" = 1 ]; then dpkg -P novalet >/dev/null 2>&1 || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

DEB=$(bash scripts/deb.sh "$TMP" | tail -1)
[ -f "$DEB" ] || die "scripts/deb.sh made no .deb"
ok "built $(basename "$DEB")"

# ---- install -------------------------------------------------------------------------------------
INSTALLED=1
dpkg -i "$DEB" || die "dpkg -i $DEB failed"
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' novalet)" = "ii " ] || fail "novalet is not installed (ii) after dpkg -i"
for f in "${FILES[@]}"; do
  dpkg -L novalet | grep -qx "$f" || fail "$f is not in dpkg -L novalet"
  want=0644
  [ "$f" != /usr/bin/novalet ] || want=0755
  got=$(stat -c '%U:%G %04a' "$f" 2>/dev/null) || { fail "$f missing"; continue; }
  [ "$got" = "root:root $want" ] || fail "$f is $got, want root:root $want"
done
dpkg-query -W -f='${Conffiles}\n' novalet | grep -q '^ /etc/logrotate.d/nova ' ||
  fail "/etc/logrotate.d/nova is not a conffile"
cmp -s /lib/systemd/system/novalet.service systemd/novalet.service || fail "the installed unit differs from systemd/novalet.service"
[ ! -e /etc/systemd/system/multi-user.target.wants/novalet.service ] || fail "the package enabled the unit"
[ "$(snapshot)" = "$BEFORE" ] || fail "user nova or nova's directories changed on install:
$BEFORE
---
$(snapshot)"
/usr/bin/novalet version | grep -q "^novalet $(git describe --tags --always --dirty) " || fail "novalet version: $(/usr/bin/novalet version)"
ok "files, owners, conffile, user nova"

# the man page: found by man, clean for groff, and it carries the README's takeover steps
man -w novalet | grep -qx /usr/share/man/man8/novalet.8.gz || fail "man -w novalet: $(man -w novalet 2>&1)"
warnings=$(zcat /usr/share/man/man8/novalet.8.gz | groff -man -ww -z 2>&1) || true
[ -z "$warnings" ] || fail "groff warns about novalet.8: $warnings"
MANPAGER=cat MANWIDTH=200 man novalet 2>/dev/null | grep -q 'systemctl disable --now nova-compute' ||
  fail "novalet(8) lacks the README's takeover steps"
ok "novalet(8)"

# bash completion: commands, then flags of run
complete_words() { # LINE: what the completion offers for the last word of LINE
  bash -c '. /usr/share/bash-completion/completions/novalet
    read -ra COMP_WORDS <<<"$1"; [[ $1 == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$1 COMP_POINT=${#1}
    _novalet novalet "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    echo "${COMPREPLY[*]}"' _ "$1"
}
[ "$(complete_words 'novalet ch')" = check ] || fail "completion of 'novalet ch': $(complete_words 'novalet ch')"
[ "$(complete_words 'novalet run --config-d')" = --config-dir ] ||
  fail "completion of 'novalet run --config-d': $(complete_words 'novalet run --config-d')"
ok "bash completion"

if command -v logrotate >/dev/null; then
  logrotate -d /etc/logrotate.d/nova >"$TMP/logrotate.out" 2>&1 || fail "logrotate -d /etc/logrotate.d/nova: $(cat "$TMP/logrotate.out")"
fi

# postinst on a machine without user nova (this one has it, and keeps it): getent answers "no
# such user/group" and addgroup/adduser only record their arguments, which must be
# nova-common's (pkgos_adduser: system user, home /var/lib/nova not created, reserved 64060).
mkdir -p "$TMP/fakebin"
for c in getent addgroup adduser; do
  printf '#!/bin/sh
echo "%s $*" >>"%s/calls"
[ %s != getent ]
' "$c" "$TMP" "$c" >"$TMP/fakebin/$c"
  chmod 0755 "$TMP/fakebin/$c"
done
PATH=$TMP/fakebin:$PATH sh /var/lib/dpkg/info/novalet.postinst configure >/dev/null 2>&1 ||
  fail "postinst configure without user nova failed"
want='getent group nova
addgroup --quiet --system --gid 64060 nova
getent passwd nova
adduser --system --home /var/lib/nova --no-create-home --quiet --disabled-password --shell /bin/sh --group nova --uid 64060'
[ "$(cat "$TMP/calls" 2>/dev/null)" = "$want" ] || fail "postinst without user nova ran:
$(cat "$TMP/calls" 2>/dev/null)
want:
$want"
[ "$(snapshot)" = "$BEFORE" ] || fail "postinst changed user nova or nova's directories"
ok "postinst makes user and group nova as nova-common does"

# ---- novalet check from /usr/bin, on the compute node's files -------------------------------------
# Every row but "nova-compute" must pass: this test machine keeps Debian's nova-compute.service
# enabled (the takeover and rollback tests and the bench run it), so that row reports the
# takeover as unfinished, and `check` exits 1 for it.
rc=0
/usr/bin/novalet check --config-file=/etc/nova/nova.conf --config-file=/etc/nova/nova-compute.conf \
  >"$TMP/check.out" 2>&1 || rc=$?
# rows: "NAME|RESULT" (names may have spaces: "keystone [placement]")
rows=$(awk '$1 == "CHECK" {on=1; next} on && NF' "$TMP/check.out" | sed -nE 's/^(.*[^ ]) +(OK|FAIL) +.*$/\1|\2/p')
[ -n "$rows" ] || fail "novalet check printed no rows: $(cat "$TMP/check.out")"
bad=$(echo "$rows" | grep -v -e '|OK$' -e '^nova-compute|' || true)
[ -z "$bad" ] || fail "novalet check rows not OK: $bad"
if echo "$rows" | grep -qx 'nova-compute|FAIL'; then
  [ "$rc" = 1 ] || fail "novalet check exited $rc with the nova-compute row failing, want 1"
else
  [ "$rc" = 0 ] || fail "novalet check exited $rc with every row OK"
fi
ok "novalet check from /usr/bin ($(echo "$rows" | wc -l) rows, exit $rc)"

# ---- the unit's command line ---------------------------------------------------------------------
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/novalet.service)
read -ra ARGV <<<"$exec_start"
[ "${ARGV[0]}" = /usr/bin/novalet ] && [ "${ARGV[1]}" = run ] || fail "ExecStart is not /usr/bin/novalet run: $exec_start"
log_file=
for a in "${ARGV[@]}"; do case $a in --log-file=*) log_file=${a#--log-file=} ;; esac; done
[ "$(dirname "$log_file")" = /var/log/nova ] || fail "ExecStart logs to $log_file, not under /var/log/nova"
install -d -m 0700 "$TMP/state" "$TMP/state/instances" "$TMP/log"
sed -E -e 's#^transport_url = .*#transport_url = rabbit://novalet-deb-test:unused@127.0.0.1:1/#' \
  -e 's#^state_path = .*#state_path = '"$TMP"'/state\nhost = novalet-deb-test#' /etc/nova/nova.conf >"$TMP/nova.conf"
printf '\n[novalet]\nmetrics_listen =\n' >>"$TMP/nova.conf"
chmod 0600 "$TMP/nova.conf"
grep -q '^host = novalet-deb-test' "$TMP/nova.conf" || fail "nova.conf has no state_path line to point elsewhere"
setsid unshare --mount --propagation private -- bash -c 'mount --bind "$1" /etc/nova/nova.conf &&
  mount --bind "$2" /var/log/nova && shift 2 && exec "$@"' _ "$TMP/nova.conf" "$TMP/log" "${ARGV[@]}" \
  >"$TMP/unit.out" 2>&1 </dev/null &
PID=$!
unit_log=$TMP/log/$(basename "$log_file")
for _ in $(seq 120); do
  grep -q 'AMQP server unreachable.*127.0.0.1:1' "$unit_log" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.5
done
if grep -q 'AMQP server unreachable.*127.0.0.1:1' "$unit_log" 2>/dev/null; then
  # oslo.log's text format at --log-file, the config warnings of both files read
  grep -qE '^[0-9-]{10} [0-9:.]{12} [0-9]+ (INFO|WARNING|ERROR) novalet' "$unit_log" ||
    fail "the unit's --log-file is not in oslo.log's text format: $(head -3 "$unit_log")"
  ok "the unit's command line: both files read, $log_file written, broker retried"
else
  fail "the unit's command line did not reach the broker: $(tail -5 "$unit_log" "$TMP/unit.out" 2>&1)"
fi
if kill -0 "$PID" 2>/dev/null; then
  kill -TERM "$PID"
  for _ in $(seq 60); do kill -0 "$PID" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$PID" 2>/dev/null && fail "novalet did not end within 30 s of SIGTERM"
fi
[ ! -e /var/log/nova/nova-compute.log ] || [ "$(stat -c %Y /var/log/nova/nova-compute.log)" -lt "$(stat -c %Y "$unit_log")" ] ||
  fail "the host's /var/log/nova/nova-compute.log was written"
PID=

# ---- purge ---------------------------------------------------------------------------------------
dpkg -P novalet || fail "dpkg -P novalet failed"
INSTALLED=0
for f in "${FILES[@]}" /usr/share/doc/novalet /var/lib/dpkg/info/novalet.list; do
  [ ! -e "$f" ] || fail "$f left after dpkg -P"
done
dpkg-query -W -f='${db:Status-Abbrev}' novalet 2>/dev/null | grep -q '^[ihc]' && fail "novalet still known to dpkg after purge"
[ "$(snapshot)" = "$BEFORE" ] || fail "user nova or nova's directories changed after purge:
$BEFORE
---
$(snapshot)"
ok "purged: user nova, /var/lib/nova and /var/log/nova kept as they were"

[ "$FAILS" = 0 ] || die "$FAILS check(s) failed"
echo "deb-test: ok"
