#!/usr/bin/env bash
# Fails unless BINARY runs on glibc FLOOR: no dynamic symbol of it may need a newer GLIBC_x.y version.
#   packaging/check-glibc.sh target/x86_64-unknown-linux-gnu/dist/queuecast 2.17
# Reads the dynamic symbol table (`objdump -T`, binutils); the symbols past the floor are listed.
set -euo pipefail
bin=${1:?usage: check-glibc.sh BINARY [FLOOR]}
floor=${2:-2.17}

symbols=$(objdump -T "$bin") || { echo "objdump -T $bin failed" >&2; exit 1; }
versions=$(grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' <<<"$symbols" | sed 's/^GLIBC_//' | sort -uV)
[ -n "$versions" ] || { echo "$bin: no GLIBC_ symbol versions (not a dynamically linked glibc binary?)" >&2; exit 1; }

too_new=()
for v in $versions; do
    # Newer than the floor: sorts after it.
    [ "$(printf '%s\n%s\n' "$v" "$floor" | sort -V | tail -n1)" = "$floor" ] || too_new+=("$v")
done
newest=$(tail -n1 <<<"$versions")
if [ "${#too_new[@]}" -gt 0 ]; then
    echo "$bin needs glibc $newest, newer than the floor $floor; symbols past it:" >&2
    for v in "${too_new[@]}"; do
        grep -E "GLIBC_$v([^.0-9]|$)" <<<"$symbols" | awk '{ print "  " $NF " (GLIBC_'"$v"')" }' >&2
    done
    exit 1
fi
echo "ok: $bin needs glibc <= $floor (newest symbol version: GLIBC_$newest)"
