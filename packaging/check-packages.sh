#!/usr/bin/env bash
# Checks the built packages (run by packaging/build.sh; runs alone on any built pair):
#   packaging/check-packages.sh target/packages/queuecast_*.deb target/packages/queuecast-*.rpm [BINARY]
# - both list the expected files (dpkg -c, rpm -qlp), the same ones bar Debian's own copyright/changelog,
#   and ship BINARY byte for byte;
# - their scripts (dpkg -I / control.tar, rpm -qp --scripts) run the shared setup helper and handle both
#   units; their dependencies (dpkg -I Depends, rpm -qpR) need no glibc past 2.17;
# - the units pass `systemd-analyze verify` and rate <= 2.0 in `systemd-analyze security --offline`;
# - lintian reports no error and no warning on the .deb.
set -euo pipefail
deb=$(realpath "${1:?usage: check-packages.sh DEB RPM [BINARY]}")
rpm=$(realpath "${2:?usage: check-packages.sh DEB RPM [BINARY]}")
bin=${3:+$(realpath "$3")}
here=$(cd "$(dirname "$0")" && pwd)
GLIBC_FLOOR=${GLIBC_FLOOR:-2.17}
SECURITY_MAX=2.0

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
pass() { echo "ok: $*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/queuecast-pkgcheck.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Every file (not directory) a package installs, one absolute path a line.
expected=(
    /usr/bin/queuecast
    /usr/lib/queuecast/setup-system
    /usr/lib/systemd/system/queuecast.service
    /usr/lib/systemd/system/queuecast-gateway.service
    /usr/lib/sysusers.d/queuecast.conf
    /usr/lib/tmpfiles.d/queuecast.conf
    /etc/queuecast/queuecast.toml
    /usr/share/doc/queuecast/README.md
    /usr/share/doc/queuecast/docs/DESIGN.md
    /usr/share/doc/queuecast/docs/consumers.md
    /usr/share/doc/queuecast/docs/packaging.md
    /usr/share/doc/queuecast/docs/protocol/AMI.md
    /usr/share/doc/queuecast/docs/protocol/QUEUE_LOG.md
    /usr/share/doc/queuecast/packaging/queuecast.toml
    /usr/share/doc/queuecast/examples/consumer.py
    /usr/share/doc/queuecast/examples/centrifugo/config.json
    /usr/share/man/man1/queuecast.1.gz
    /usr/share/man/man1/queuecast-run.1.gz
    /usr/share/man/man1/queuecast-check-config.1.gz
)
debian_only=(/usr/share/doc/queuecast/copyright /usr/share/doc/queuecast/changelog.Debian.gz)

dpkg -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' | sort > "$work/deb.files"
# rpm -qlp lists the directories the package owns too; keep the files, as dpkg -c's non-directory lines.
rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpm" 2>/dev/null | awk '$1 !~ /^d/ { print $2 }' | sort > "$work/rpm.files"
[ "$(rpm -qlp "$rpm" 2>/dev/null | wc -l)" -ge "$(wc -l < "$work/rpm.files")" ] || fail "rpm -qlp"
for path in "${expected[@]}" "${debian_only[@]}"; do
    grep -qxF "$path" "$work/deb.files" || fail ".deb lacks $path (dpkg -c)"
done
for path in "${expected[@]}"; do
    grep -qxF "$path" "$work/rpm.files" || fail ".rpm lacks $path (rpm -qlp)"
done
printf '%s\n' "${debian_only[@]}" | sort > "$work/debian-only"
comm -23 "$work/deb.files" "$work/debian-only" > "$work/deb.common"
diff -u "$work/deb.common" "$work/rpm.files" > "$work/files.diff" ||
    fail ".deb and .rpm install different files:
$(cat "$work/files.diff")"
pass "both packages install the same $(wc -l < "$work/rpm.files") files (+ Debian's copyright, changelog)"

mkdir -p "$work/deb" "$work/rpm"
dpkg-deb -x "$deb" "$work/deb/root"
dpkg-deb -e "$deb" "$work/deb/control"
rpm -K "$rpm" >/dev/null 2>&1 || fail "rpm -K: the .rpm's digests do not verify"
# rpm2cpio of rpm 4.18 exits 1 after writing the whole archive: judge by what cpio unpacked.
rpm2cpio "$rpm" > "$work/rpm.cpio" 2>/dev/null || true
(cd "$work/rpm" && cpio -idm --quiet < "$work/rpm.cpio") || fail "cpio: the .rpm's payload"
[ -x "$work/rpm/usr/bin/queuecast" ] || fail "rpm2cpio: no /usr/bin/queuecast in the payload"
if [ -n "$bin" ]; then
    cmp -s "$bin" "$work/deb/root/usr/bin/queuecast" || fail "the .deb's /usr/bin/queuecast is not $bin"
    cmp -s "$bin" "$work/rpm/usr/bin/queuecast" || fail "the .rpm's /usr/bin/queuecast is not $bin"
    pass "both ship $bin byte for byte"
fi
"$here/check-glibc.sh" "$work/deb/root/usr/bin/queuecast" "$GLIBC_FLOOR" >/dev/null
[ "$(stat -c %a "$work/deb/root/usr/lib/queuecast/setup-system")" = 755 ] || fail "setup-system is not 0755 in the .deb"

# --- .deb control: dependencies, conffiles, scripts
control=$(dpkg -I "$deb")
depends=$(sed -n 's/^ Depends: //p' <<<"$control")
libc=$(grep -oE 'libc6 \(>= [0-9.]+\)' <<<"$depends" | grep -oE '[0-9]+\.[0-9]+') || fail "Depends has no libc6 (>= …): $depends"
[ "$(printf '%s\n%s\n' "$libc" "$GLIBC_FLOOR" | sort -V | tail -n1)" = "$GLIBC_FLOOR" ] ||
    fail ".deb Depends libc6 >= $libc, past $GLIBC_FLOOR"
grep -qE '^ Homepage: .*example' <<<"$control" && fail ".deb Homepage is a placeholder"
grep -q 'example\.invalid' <<<"$control" && fail ".deb control names example.invalid"
grep -qxF /etc/queuecast/queuecast.toml "$work/deb/control/conffiles" || fail "queuecast.toml is not a conffile"
grep -q '/usr/lib/queuecast/setup-system' "$work/deb/control/postinst" || fail "postinst does not run setup-system"
for unit in queuecast.service queuecast-gateway.service; do
    grep -q "update-state $unit\|update-state.*$unit" "$work/deb/control/postinst" || fail "postinst does not register $unit"
    grep -q "$unit" "$work/deb/control/prerm" || fail "prerm does not stop $unit"
    grep -q "$unit" "$work/deb/control/postrm" || fail "postrm does not purge $unit"
done
grep -q 'deb-systemd-helper enable' "$work/deb/control/postinst" && ! grep -q 'was-enabled' "$work/deb/control/postinst" &&
    fail "postinst enables the units (they are installed disabled)"
pass ".deb: Depends libc6 (>= $libc) [$depends]; conffile; postinst runs setup-system; both units in postinst/prerm/postrm, installed disabled"

# --- .rpm: dependencies, config files, scripts, payload
requires=$(rpm -qpR "$rpm" 2>/dev/null)
newest=$(grep -oE 'GLIBC_[0-9]+\.[0-9]+' <<<"$requires" | sed 's/GLIBC_//' | sort -uV | tail -n1)
[ -n "$newest" ] || fail "rpm -qpR lists no libc.so.6(GLIBC_…) requirement (auto-req off?)"
[ "$(printf '%s\n%s\n' "$newest" "$GLIBC_FLOOR" | sort -V | tail -n1)" = "$GLIBC_FLOOR" ] ||
    fail ".rpm requires GLIBC_$newest, past $GLIBC_FLOOR"
grep -qx '/usr/bin/systemctl' <<<"$requires" || fail ".rpm does not require /usr/bin/systemctl"
grep -qx '/bin/sh' <<<"$requires" || fail ".rpm does not require /bin/sh (its scripts)"
rpm -qp --configfiles "$rpm" 2>/dev/null | grep -qx /etc/queuecast/queuecast.toml || fail "queuecast.toml is not %config"
scripts=$(rpm -qp --scripts "$rpm" 2>/dev/null)
grep -q '^postinstall scriptlet' <<<"$scripts" && grep -q '/usr/lib/queuecast/setup-system' <<<"$scripts" ||
    fail ".rpm %post does not run setup-system"
grep -q 'disable --now queuecast.service queuecast-gateway.service' <<<"$scripts" || fail ".rpm %preun does not stop both units"
grep -q 'try-restart queuecast.service queuecast-gateway.service' <<<"$scripts" || fail ".rpm %postun does not restart both units"
compressor=$(rpm -qp --qf '%{PAYLOADCOMPRESSOR}' "$rpm" 2>/dev/null)
[ "$compressor" = gzip ] || fail ".rpm payload is $compressor: rpm 4.11 (CentOS 7) reads gzip, not zstd"
url=$(rpm -qp --qf '%{URL}' "$rpm" 2>/dev/null)
case "$url" in *example*) fail ".rpm URL is a placeholder: $url" ;; esac
pass ".rpm: requires GLIBC_$newest at most, /bin/sh, /usr/bin/systemctl; %config; %post/%preun/%postun; gzip payload"

# --- units, as packaged: verify (ExecStart pointed at the packaged binary) and the sandbox rating
mkdir -p "$work/units"
for unit in queuecast.service queuecast-gateway.service; do
    cmp -s "$work/deb/root/usr/lib/systemd/system/$unit" "$work/rpm/usr/lib/systemd/system/$unit" ||
        fail "$unit differs between the .deb and the .rpm"
    sed "s|/usr/bin/queuecast|$work/deb/root/usr/bin/queuecast|" "$work/deb/root/usr/lib/systemd/system/$unit" \
        > "$work/units/$unit"
done
systemd-analyze verify --man=no "$work/units/queuecast.service" "$work/units/queuecast-gateway.service" ||
    fail "systemd-analyze verify"
pass "systemd-analyze verify: queuecast.service, queuecast-gateway.service"
for unit in queuecast.service queuecast-gateway.service; do
    score=$(systemd-analyze security --offline=yes --no-pager "$work/units/$unit" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    [ -n "$score" ] || fail "no systemd-analyze security rating for $unit"
    awk -v s="$score" -v max="$SECURITY_MAX" 'BEGIN { exit !(s <= max) }' || fail "$unit exposure $score > $SECURITY_MAX"
    pass "systemd-analyze security $unit: $score (<= $SECURITY_MAX)"
done

# --- lintian: errors and warnings fail; info and pedantic notes are shown
# initial-upload-closes-no-bugs asks a first upload *to Debian* to close its ITP bug: these packages are
# distributed outside the archive, there is no such bug to close.
lintian --fail-on error,warning --info --suppress-tags initial-upload-closes-no-bugs "$deb" || fail "lintian"
pass "lintian: no error, no warning"
