#!/usr/bin/env bash
# Builds the .deb and .rpm into target/packages/ and checks the .deb with lintian.
#   packaging/build.sh            # build both, lint the .deb
# Needs: cargo-deb, cargo-generate-rpm (installed here if missing), lintian (apt-get, if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-deb >/dev/null || ! command -v cargo-generate-rpm >/dev/null; then
    cargo install --locked cargo-deb cargo-generate-rpm
fi
if ! command -v lintian >/dev/null && command -v apt-get >/dev/null; then
    SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lintian
fi

out=target/packages
mkdir -p "$out"
# One stripped binary for both packages (Cargo.toml [profile.dist]); cargo-deb reuses it rather than
# building again with its own settings.
cargo build --profile dist --locked --bin queuecast
# Man pages from the clap definitions (queuecast.1 + one per subcommand), compressed as Debian policy wants.
rm -rf target/man
target/dist/queuecast man target/man
gzip -9n target/man/*.1
cargo deb --no-build --profile dist --output "$out/"
cargo generate-rpm --profile dist --output "$out/"

deb=$(ls -t "$out"/queuecast_*.deb | head -n1)
rpm=$(ls -t "$out"/queuecast-*.rpm | head -n1)
echo "built: $deb"
echo "built: $rpm"
if command -v lintian >/dev/null; then
    # Errors fail the build; warnings and info are shown for review.
    lintian --fail-on error "$deb"
fi
