# Sourced by packaging/build.sh: the pinned packaging tools, installed only when the pinned version is not
# already there, so that every run after the first spends no time on them.
#
# Everything comes from a package registry by name (crates.io, PyPI, Debian): a toolchain that downloads
# from elsewhere cannot be used on these machines. Bump a pin here, in one place, and the next run
# installs it.

# crates.io: the packagers and the zig-driven cross build.
CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1
CARGO_ZIGBUILD_VERSION=0.24.1
# PyPI `ziglang`: Zig as a Python wheel. Zig's linker and its bundled glibc stubs let the binary link
# against glibc 2.17 symbols on a newer build host (cargo zigbuild --target ….2.17).
ZIGLANG_VERSION=0.15.2

# Zig is unpacked here (pip --target), one directory per version; it outlives `cargo clean`.
PACKAGING_TOOLS_DIR=${PACKAGING_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/queuecast-packaging}

# tool_version CMD…: the first x.y.z the command prints, or nothing if it cannot run.
tool_version() {
    "$@" 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1
}

# ensure_cargo_tool CRATE VERSION CMD…: `cargo install` CRATE@VERSION unless CMD reports that version.
ensure_cargo_tool() {
    local crate=$1 version=$2
    shift 2
    if [ "$(tool_version "$@")" = "$version" ]; then
        return
    fi
    echo "--- installing $crate $version (crates.io)"
    cargo install --locked --quiet "$crate@$version"
}

# ensure_zig: Zig from PyPI's ziglang wheel; exports CARGO_ZIGBUILD_ZIG_PATH so cargo-zigbuild uses this
# pinned zig and never another one on the PATH.
ensure_zig() {
    local dir="$PACKAGING_TOOLS_DIR/ziglang-$ZIGLANG_VERSION"
    if [ ! -x "$dir/ziglang/zig" ]; then
        echo "--- installing ziglang $ZIGLANG_VERSION (PyPI) into $dir"
        command -v python3 >/dev/null || need_apt python3 python3-pip
        rm -rf "$dir.partial"
        python3 -m pip install --quiet --disable-pip-version-check --no-deps \
            --target "$dir.partial" "ziglang==$ZIGLANG_VERSION"
        rm -rf "$dir"
        mv "$dir.partial" "$dir"
    fi
    export CARGO_ZIGBUILD_ZIG_PATH="$dir/ziglang/zig"
}

# ensure_apt_tools: lintian (the .deb's lint), rpm and cpio (rpm -qp, rpm2cpio on the .rpm), binutils (objdump -T) and
# systemd (systemd-analyze verify / security).
ensure_apt_tools() {
    local missing=()
    command -v lintian >/dev/null || missing+=(lintian)
    command -v rpm >/dev/null || missing+=(rpm)
    command -v cpio >/dev/null || missing+=(cpio)
    command -v objdump >/dev/null || missing+=(binutils)
    command -v systemd-analyze >/dev/null || missing+=(systemd)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "--- installing ${missing[*]} (apt)"
        need_apt "${missing[@]}"
    fi
}

ensure_packaging_tools() {
    ensure_apt_tools
    ensure_cargo_tool cargo-deb "$CARGO_DEB_VERSION" cargo deb --version
    ensure_cargo_tool cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION" cargo generate-rpm --version
    ensure_cargo_tool cargo-zigbuild "$CARGO_ZIGBUILD_VERSION" cargo-zigbuild --version
    ensure_zig
}
