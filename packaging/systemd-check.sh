#!/usr/bin/env bash
# The package under a real systemd (PID 1), where the test suite cannot go, in a systemd-nspawn container:
# Type=notify READY and STATUS, journald fields, the package's setup (users, asterisk group, state
# directory) and reading a 0640 root:asterisk queue_log through that group, SIGHUP reload, watchdog,
# restart after SIGKILL, clean stop, `systemd-analyze security` exposure of both units.
#   packaging/systemd-check.sh target/packages/queuecast_*.deb
#       installs the .deb with dpkg (its postinst included) into a fresh Debian 12 (debootstrap from
#       Debian's archive, cached under ~/.cache/queuecast-packaging/) booted as an ephemeral container;
#   dpkg -i target/packages/queuecast_*.deb && packaging/systemd-check.sh
#       boots this host's /usr, where the .deb is installed, in a volatile container.
# Needs root with CAP_SYS_ADMIN and systemd-container (+ debootstrap for the first form; installed if
# missing). The host is not changed beyond that: the containers' /etc is their own, the config, queue_log
# and Redis are private temp files.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh
. packaging/tools.sh

deb=${1:+$(realpath "$1")}
[ -n "$deb" ] || command -v queuecast >/dev/null || { echo "give the .deb or install it first (see the header)" >&2; exit 1; }
command -v systemd-nspawn >/dev/null || need_apt systemd-container
ensure_redis
# The asterisk group's id in the container, as Asterisk's own package would have made it.
ASTERISK_GID=7777

# debian_rootfs: a minimal Debian 12 with systemd, made once and kept (the container copies it).
debian_rootfs() {
    local root="$PACKAGING_TOOLS_DIR/rootfs-bookworm"
    if [ ! -x "$root/lib/systemd/systemd" ]; then
        command -v debootstrap >/dev/null || need_apt debootstrap
        rm -rf "$root.partial"
        debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,passwd,init-system-helpers,procps \
            bookworm "$root.partial" http://deb.debian.org/debian >&2
        rm -rf "$root"
        mv "$root.partial" "$root"
    fi
    echo "$root"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/queuecast-systemd.XXXXXX")
port=$((20000 + RANDOM % 30000))
nspawn_pid=""
cleanup() {
    [ -n "$nspawn_pid" ] && kill "$nspawn_pid" 2>/dev/null && sleep 2
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --logfile "$work/redis.log" --dir "$work"
rcli() { redis-cli -p "$port" "$@"; }

# The container's /etc is empty: config, queue_log and the asterisk group (as Asterisk's package would have
# made it) come in as binds; the queuecast users come from the package's own sysusers.d file at boot.
mkdir -p "$work/etc" "$work/sysusers" "$work/asterisk"
cat > "$work/etc/queuecast.toml" <<TOML
[queue_log]
path = "/var/log/asterisk/queue_log"
[ami]
enabled = false
[redis]
url = "redis://127.0.0.1:$port"
pbx_id = "nspawn"
[engine]
queues_conf = "/nonexistent/queues.conf"
TOML
echo "g asterisk $ASTERISK_GID" > "$work/sysusers/asterisk.conf"
queue_log="$work/asterisk/queue_log"
: > "$queue_log"
chown "0:$ASTERISK_GID" "$work/asterisk" "$queue_log"
chmod 750 "$work/asterisk"
chmod 640 "$queue_log"

# setup_without_systemd_tools ROOTFS: the package's setup helper where systemd-sysusers and
# systemd-tmpfiles are missing (CentOS 7's systemd 219 ships no sysusers), in a chroot of a copy: the users
# come from useradd, the group from usermod, the directory from install -d; a second run changes nothing.
setup_without_systemd_tools() {
    local root="$work/chroot"
    cp -a "$1" "$root"
    dpkg-deb -x "$deb" "$root"
    rm -f "$root/usr/bin/systemd-sysusers" "$root/bin/systemd-sysusers" "$root/usr/bin/systemd-tmpfiles" "$root/bin/systemd-tmpfiles"
    chroot "$root" groupadd --system asterisk
    chroot "$root" /usr/lib/queuecast/setup-system || fail "setup-system without systemd tools"
    chroot "$root" /usr/lib/queuecast/setup-system || fail "setup-system, second run"
    [ "$(chroot "$root" getent passwd queuecast | cut -d: -f5,6)" = "queuecast daemon:/var/lib/queuecast" ] || fail "useradd queuecast"
    [ "$(chroot "$root" getent passwd queuecast-gateway | cut -d: -f5)" = "queuecast gateway" ] || fail "useradd queuecast-gateway"
    chroot "$root" id -Gn queuecast | grep -qw asterisk || fail "usermod: queuecast not in asterisk"
    [ "$(chroot "$root" stat -c '%U:%G %a' /var/lib/queuecast)" = "queuecast:queuecast 750" ] || fail "install -d /var/lib/queuecast"
    rm -rf "$root"
    pass "setup-system without systemd-sysusers/systemd-tmpfiles: useradd, usermod, install -d; idempotent"
}

if [ -n "$deb" ]; then
    rootfs=$(debian_rootfs)
    setup_without_systemd_tools "$rootfs"
    systemd-nspawn -D "$rootfs" --ephemeral -b -M queuecast-check --register=no --keep-unit --console=pipe \
        --bind-ro="$deb:/root/queuecast.deb" --bind="$work/asterisk:/var/log/asterisk" \
        > "$work/console.log" 2>&1 &
else
    systemd-nspawn -D / --volatile=yes -b -M queuecast-check --register=no --keep-unit --console=pipe \
        --bind-ro="$work/etc:/etc/queuecast" --bind-ro="$work/sysusers:/etc/sysusers.d" \
        --bind="$work/asterisk:/var/log/asterisk" > "$work/console.log" 2>&1 &
fi
nspawn_pid=$!
init="" state=""
for _ in $(seq 60); do
    init=$(pgrep -P "$nspawn_pid" -x systemd || true)
    if [ -n "$init" ]; then
        # "degraded" is fine: units of the host's own setup may fail in a container.
        state=$(nsenter -t "$init" -a systemctl is-system-running --wait 2>/dev/null || true)
        case "$state" in running | degraded) break ;; esac
    fi
    sleep 1
done
case "$state" in running | degraded) ;; *) fail "the container did not boot (see $work/console.log)" ;; esac
in=(nsenter -t "$init" -a)
show() { "${in[@]}" systemctl show queuecast -P "$1"; }

if [ -n "$deb" ]; then
    # A PBX host: Asterisk's group exists before queuecast is installed; dpkg runs the real postinst.
    "${in[@]}" groupadd --system --gid "$ASTERISK_GID" asterisk
    "${in[@]}" env DEBIAN_FRONTEND=noninteractive dpkg -i /root/queuecast.deb > "$work/dpkg.log" 2>&1 ||
        { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
    [ "$("${in[@]}" systemctl is-enabled queuecast || true)" = disabled ] || fail "queuecast.service is enabled on install"
    [ "$("${in[@]}" systemctl is-enabled queuecast-gateway || true)" = disabled ] || fail "the gateway is enabled on install"
    pass "dpkg -i: postinst ran, both units installed disabled"
    "${in[@]}" cp /etc/queuecast/queuecast.toml /etc/queuecast/queuecast.toml.dist
    "${in[@]}" sh -c 'cat > /etc/queuecast/queuecast.toml' < "$work/etc/queuecast.toml"
else
    # What the package scripts run after install: the asterisk group for the daemon's user, the state dir.
    "${in[@]}" /usr/lib/queuecast/setup-system || fail "setup-system"
fi
"${in[@]}" id -Gn queuecast | grep -qw asterisk || fail "setup-system did not add queuecast to asterisk"
"${in[@]}" id -Gn queuecast-gateway | grep -qw asterisk && fail "the gateway's user is in the asterisk group"
[ "$("${in[@]}" stat -c '%U %a' /var/lib/queuecast)" = "queuecast 750" ] || fail "state directory"
pass "setup-system: queuecast in group asterisk, queuecast-gateway not, /var/lib/queuecast 0750"

"${in[@]}" systemctl start queuecast || fail "start"
[ "$(show StatusText)" = "state written to Redis" ] || fail "READY status: $(show StatusText)"
pass "Type=notify: active after READY=1, STATUS=$(show StatusText)"

now=$(date +%s)
for n in 1 2 3; do
    printf '%s|NONE|support|PJSIP/100%s|ADDMEMBER|\n' "$now" "$n" >> "$queue_log"
done
for _ in $(seq 50); do [ "$(rcli scard 'queuecast:{nspawn}:agents')" = 3 ] && break; sleep 0.1; done
[ "$(rcli scard 'queuecast:{nspawn}:agents')" = 3 ] || fail "queue_log (0640 root:asterisk) not followed"
pass "follows a 0640 root:asterisk queue_log through the asterisk group the package gave its user"

"${in[@]}" journalctl _SYSTEMD_UNIT=queuecast.service -o verbose --no-pager | grep -q '^    TARGET=queuecast::' \
    || fail "no structured journald fields"
pass "journald fields (TARGET, CODE_FILE, F_*)"

"${in[@]}" systemctl reload queuecast || fail "reload"
[ "$(show StatusText)" = "configuration reloaded" ] || fail "reload status: $(show StatusText)"
pass "ExecReload (SIGHUP): RELOADING=1 then READY=1"

[ "$(show WatchdogUSec)" = "30s" ] || fail "watchdog: $(show WatchdogUSec)"
pass "WatchdogSec=30 armed"

"${in[@]}" systemctl kill -s KILL queuecast
for _ in $(seq 100); do [ "$(show NRestarts)" = 1 ] && [ "$(show ActiveState)" = active ] && break; sleep 0.1; done
[ "$(show NRestarts)" = 1 ] || fail "not restarted after SIGKILL"
pass "Restart=on-failure after SIGKILL"

start=$(date +%s%N)
"${in[@]}" systemctl stop queuecast
stop_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$(show Result)" = success ] && [ "$(show ExecMainStatus)" = 0 ] || fail "stop: $(show Result)"
pass "SIGTERM: exit 0 in ${stop_ms} ms"

"${in[@]}" systemd-analyze security queuecast --no-pager | tail -n1
"${in[@]}" systemd-analyze security queuecast-gateway --no-pager | tail -n1
echo "all systemd checks passed"
