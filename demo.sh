#!/usr/bin/env bash
# The demo: a simulated call center (queue_log + AMI) → queuecast → a private Redis → live terminal view.
# Installs redis-server if missing. Everything runs in a temp dir and stops with Ctrl-C.
#   ./demo.sh                 # default: 12 agents, 3 queues, time running 5× faster
#   SPEED=20 ./demo.sh        # busier
set -euo pipefail
cd "$(dirname "$0")"
. .ci/lib.sh
ensure_redis

SPEED=${SPEED:-5}
echo "building queuecast…" >&2
cargo build --locked --bin queuecast
bin=$PWD/target/debug/queuecast

work=$(mktemp -d "${TMPDIR:-/tmp}/queuecast-demo.XXXXXX")
pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "demo stopped; logs were in $work (removed)" >&2
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# A free port for the fake AMI endpoint (5038 stays free for a real Asterisk).
port=$((20000 + RANDOM % 30000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((20000 + RANDOM % 30000)); done

# Private Redis on a unix socket: no port, no persistence, gone with the temp dir.
redis-server --port 0 --unixsocket "$work/redis.sock" --unixsocketperm 700 \
    --save '' --appendonly no --dir "$work" --logfile "$work/redis.log" &
pids+=($!)

# The simulated PBX: appends to queue_log and serves AMI.
printf 'demo\n' > "$work/ami.secret"
"$bin" simulate --queue-log "$work/queue_log" --ami-listen "127.0.0.1:$port" \
    --ami-username queuecast --ami-secret demo --speed "$SPEED" 2>"$work/simulate.log" &
pids+=($!)

cat > "$work/queuecast.toml" <<TOML
[queue_log]
path = "$work/queue_log"

[ami]
host = "127.0.0.1"
port = $port
username = "queuecast"
secret_file = "$work/ami.secret"

[redis]
url = "unix://$work/redis.sock"
pbx_id = "demo"

[log]
format = "text"

[engine]
queues_conf = "$work/queues.conf"
TOML

for _ in $(seq 100); do
    [ -S "$work/redis.sock" ] && [ -s "$work/queue_log" ] && break
    sleep 0.1
done
"$bin" check-config --config "$work/queuecast.toml" >/dev/null
"$bin" run --config "$work/queuecast.toml" 2>"$work/queuecast.log" &
pids+=($!)

echo "queuecast is running (logs: $work/*.log). Ctrl-C stops the demo." >&2
sleep 1
"$bin" status --redis "unix://$work/redis.sock" --pbx demo --watch
