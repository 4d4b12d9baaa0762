# Shared by .ci/run, test.sh and demo.sh: install what a fresh Debian/Ubuntu machine lacks, quietly and
# only when it is missing (no apt-get update otherwise).

# as_root CMD…: run as root (directly, or through sudo).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=""
# need_apt PACKAGE…: apt-get install the packages (non-interactive; update once per run).
need_apt() {
    if ! command -v apt-get >/dev/null; then
        echo "missing: $* — install it with your package manager" >&2
        return 1
    fi
    if [ -z "$APT_UPDATED" ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ensure_redis: the tests and the demo start private redis-server instances (never the system one).
ensure_redis() {
    command -v redis-server >/dev/null || need_apt redis-server
}

# ensure_chromium: the gateway's page tests drive Debian's headless Chromium through chromedriver.
ensure_chromium() {
    local missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    if [ "${#missing[@]}" -gt 0 ]; then
        need_apt "${missing[@]}"
    fi
}

# ensure_python_redis: the example consumer's test runs examples/consumer.py, which needs redis-py. pip where
# the interpreter allows it (pyenv, venv), Debian's python3-redis where it is externally managed (PEP 668).
ensure_python_redis() {
    command -v python3 >/dev/null || need_apt python3
    python3 -c 'import redis' 2>/dev/null && return
    python3 -m pip install --quiet --disable-pip-version-check redis 2>/dev/null || need_apt python3-redis
    python3 -c 'import redis' || { echo "python3 cannot import redis (examples/consumer.py)" >&2; return 1; }
}
