#!/usr/bin/env bash
# The demo: a simulated call center (queue_log + AMI) → queuecast → a private Redis → live terminal view,
# and the gateway serving the wallboard and the operator panel to a browser (URLs with a token printed).
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

# Free ports for the fake AMI endpoint (5038 stays free for a real Asterisk) and the gateway.
free_port() {
    local p=$((20000 + RANDOM % 30000))
    while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((20000 + RANDOM % 30000)); done
    echo "$p"
}
port=$(free_port)
gateway_port=${GATEWAY_PORT:-$(free_port)}

# Private Redis on a unix socket: no port, no persistence, gone with the temp dir.
redis-server --port 0 --unixsocket "$work/redis.sock" --unixsocketperm 700 \
    --save '' --appendonly no --dir "$work" --logfile "$work/redis.log" &
pids+=($!)

# The simulated PBX: appends to queue_log and serves AMI.
printf 'demo\n' > "$work/ami.secret"
head -c 32 /dev/urandom | base64 > "$work/token.secret"
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

# The operator panel pauses and unpauses its agent through the simulated PBX, which answers QueuePause as
# Asterisk 22 does.
[actions]
enabled = true
allow = ["pause", "unpause"]
queues = ["*"]

[gateway]
listen = "127.0.0.1:$gateway_port"
token_secret_file = "$work/token.secret"
TOML

for _ in $(seq 100); do
    [ -S "$work/redis.sock" ] && [ -s "$work/queue_log" ] && break
    sleep 0.1
done
"$bin" check-config --config "$work/queuecast.toml" >/dev/null
"$bin" run --config "$work/queuecast.toml" 2>"$work/queuecast.log" &
pids+=($!)

# The gateway needs only Redis; it waits for the daemon's first state like any consumer.
"$bin" gateway --config "$work/queuecast.toml" 2>"$work/gateway.log" &
pids+=($!)
token=$("$bin" token --config "$work/queuecast.toml" --ttl 8h)
panel_token=$("$bin" token --config "$work/queuecast.toml" --agent PJSIP/1001 --actions --ttl 8h)
urls="wallboard:      http://127.0.0.1:$gateway_port/?token=$token
operator panel: http://127.0.0.1:$gateway_port/panel?agent=PJSIP%2F1001&token=$panel_token"
echo "queuecast is running (logs: $work/*.log). Ctrl-C stops the demo." >&2
echo "$urls" >&2
echo "(the terminal view starts in 5 s; the URLs are printed again when the demo stops)" >&2
trap 'echo "$urls" >&2; cleanup' EXIT INT TERM
sleep 5
"$bin" status --redis "unix://$work/redis.sock" --pbx demo --watch
