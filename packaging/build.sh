#!/usr/bin/env bash
# Builds target/packages/queuecast_*.deb and queuecast-*.rpm around ONE binary that runs on glibc >= 2.17
# (x86_64: CentOS 7 / FreePBX distro, RHEL 8/9, Debian 11+, Ubuntu 20.04+), then checks what was built.
#   packaging/build.sh            # tools (pinned, installed once), build, package, check
#   packaging/build.sh --tools    # only install the pinned tools (e.g. to warm a CI cache)
# Maintainer of the .deb: QUEUECAST_MAINTAINER="Name <email>", else DEBFULLNAME/DEBEMAIL, else the git
# identity of the checkout (see docs/packaging.md "Metadata").
# Tools: packaging/tools.sh (cargo-deb, cargo-generate-rpm, cargo-zigbuild, Zig from PyPI, lintian, rpm).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh
. packaging/tools.sh

# The oldest glibc the binary may need: CentOS 7 (Sangoma Linux 7, the FreePBX distro).
GLIBC_FLOOR=2.17
# Rust target of the shipped binary; zig links it against glibc GLIBC_FLOOR's symbol versions. aarch64 is
# not built: rustup cannot download its standard library on these machines.
TARGET=x86_64-unknown-linux-gnu
PROFILE=dist

phase_start=$(date +%s)
phase() {
    local now
    now=$(date +%s)
    echo "--- [$((now - phase_start)) s] $*"
}

phase "tools"
ensure_packaging_tools
[ "${1:-}" = "--tools" ] && { phase "tools ready"; exit 0; }

maintainer=${QUEUECAST_MAINTAINER:-}
if [ -z "$maintainer" ] && [ -n "${DEBFULLNAME:-}" ] && [ -n "${DEBEMAIL:-}" ]; then
    maintainer="$DEBFULLNAME <$DEBEMAIL>"
fi
if [ -z "$maintainer" ] && git config user.name >/dev/null && git config user.email >/dev/null; then
    maintainer="$(git config user.name) <$(git config user.email)>"
fi
[ -n "$maintainer" ] || {
    echo "set QUEUECAST_MAINTAINER=\"Name <email>\" (who distributes these packages)" >&2
    exit 1
}

phase "build: cargo zigbuild --target $TARGET.$GLIBC_FLOOR --profile $PROFILE"
cargo zigbuild --locked --profile "$PROFILE" --bin queuecast --target "$TARGET.$GLIBC_FLOOR"
bin=target/$TARGET/$PROFILE/queuecast
packaging/check-glibc.sh "$bin" "$GLIBC_FLOOR"

phase "man pages, changelog"
# Man pages from the clap definitions plus FILES/EXIT STATUS/ENVIRONMENT/SEE ALSO (src/cli/man.rs),
# compressed as Debian policy wants. The shipped binary writes them: it runs on this (newer) glibc too.
rm -rf target/man
"$bin" man target/man
gzip -9n target/man/*.1
# The Debian changelog names who built this package from which commit, at that commit's time (so two
# builds of one commit are byte-identical where the tools allow it).
version=$(cargo metadata --no-deps --format-version 1 --locked |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="queuecast"))')
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
mkdir -p target/packaging
cat > target/packaging/changelog <<CHANGELOG
queuecast ($version-1) unstable; urgency=medium

  * queuecast $version (commit $commit), built by packaging/build.sh
    for glibc >= $GLIBC_FLOOR.

 -- $maintainer  $(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")
CHANGELOG

phase "package: .deb and .rpm"
out=target/packages
rm -rf "$out"
mkdir -p "$out"
# Both take the zig-built binary as it is (Cargo.toml assets "target/release/queuecast" are rewritten to
# target/$TARGET/$PROFILE/ by --target/--profile): no second build, no stripping (profile dist strips).
cargo deb --no-build --no-strip --target "$TARGET" --profile "$PROFILE" --maintainer "$maintainer" \
    --output "$out/"
# gzip payload: rpm 4.11 (CentOS 7) cannot read cargo-generate-rpm's default zstd.
cargo generate-rpm --target "$TARGET" --profile "$PROFILE" --payload-compress gzip --output "$out/"
deb=$(ls "$out"/queuecast_*.deb)
rpm=$(ls "$out"/queuecast-*.rpm)

phase "check: contents, scripts, dependencies, units, lintian"
packaging/check-packages.sh "$deb" "$rpm" "$bin"
ls -l "$deb" "$rpm"
phase "done"
