#!/usr/bin/env python3
"""Minimal gap-free queuecast consumer (redis-py >= 4): snapshot, then follow the stream.

    pip install redis
    python3 examples/consumer.py --redis redis://127.0.0.1:6379 --pbx pbx1

Prints one line per applied change. Protocol: docs/consumers.md.
On a Redis error (server down, restarted, connection cut) it waits with capped exponential backoff and
takes a new snapshot: Redis may have come back empty or rewritten, so nothing read before can be trusted.
With --idle-exit S it prints the state it rebuilt as one JSON line and exits once the stream has been quiet
for S seconds: a deployment check (compare it with the hashes) and what the project's tests run.
"""

import argparse
import json
import random
import time

import redis


def snapshot(r, base):
    """meta.seq and every agent/queue/waiting hash in one MULTI, so the state is exactly 'after seq S'."""
    agents = set(r.smembers(f"{base}:agents"))
    queues = set(r.smembers(f"{base}:queues"))
    while True:
        pipe = r.pipeline(transaction=True)
        pipe.hgetall(f"{base}:meta")
        pipe.smembers(f"{base}:agents")
        pipe.smembers(f"{base}:queues")
        agent_ids, queue_names = sorted(agents), sorted(queues)
        for a in agent_ids:
            pipe.hgetall(f"{base}:agent:{a}")
        for q in queue_names:
            pipe.hgetall(f"{base}:queue:{q}")
            pipe.hgetall(f"{base}:queue:{q}:waiting")
        meta, now_agents, now_queues, *hashes = pipe.execute()
        if now_agents == agents and now_queues == queues:
            break
        agents, queues = now_agents, now_queues  # membership changed meanwhile: read again
    state = {"agents": {}, "queues": {}, "waiting": {}}
    it = iter(hashes)
    for a in agent_ids:
        state["agents"][a] = next(it)
    for q in queue_names:
        state["queues"][q] = next(it)
        state["waiting"][q] = next(it)
    return int(meta.get("seq", 0)), meta.get("epoch", ""), state


def as_redis_string(value):
    """The hash spelling of a JSON value: strings as is, null as '', the rest as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"))


def apply(state, msg):
    kind, ident, data = msg["type"], msg["id"], msg["data"]
    if kind == "agent_update":
        state["agents"][ident] = {k: as_redis_string(v) for k, v in data.items()}
    elif kind == "agent_removed":
        state["agents"].pop(ident, None)
    elif kind == "queue_update":
        waiting = data.get("waiting", {})
        state["queues"][ident] = {k: as_redis_string(v) for k, v in data.items() if k != "waiting"}
        state["waiting"][ident] = {uid: json.dumps(e, separators=(",", ":")) for uid, e in waiting.items()}
    # call_update: per-call detail; keep it if your front end shows calls.


# Reconnect backoff: first retry soon (a Redis restart takes a second or two), at most every 10 s.
BACKOFF_MIN_S = 0.2
BACKOFF_MAX_S = 10.0


def follow(r, base, block_ms, idle_exit):
    """Snapshot, then the stream, until idle (with idle_exit); a Redis error propagates to the caller."""
    stream = f"{base}:stream"
    seq, epoch, state = snapshot(r, base)
    print(f"snapshot seq={seq} agents={len(state['agents'])} queues={len(state['queues'])}", flush=True)
    while True:
        reply = r.xread({stream: f"{seq}-0"}, count=1000, block=block_ms)
        if not reply and idle_exit:
            print(json.dumps({"seq": seq, **state}, sort_keys=True), flush=True)
            return
        for _key, entries in reply or []:
            for _entry_id, fields in entries:
                msg = json.loads(fields["payload"])
                if msg["epoch"] != epoch or msg["type"] == "resync" or msg["seq"] > seq + 1:
                    seq, epoch, state = snapshot(r, base)  # restart, rebuild or gap: start over
                    print(f"re-snapshot seq={seq} ({msg['type']})", flush=True)
                    break
                if msg["seq"] <= seq:
                    continue  # already in the snapshot
                apply(state, msg)
                seq = msg["seq"]
                print(f"{seq} {msg['type']} {msg['id']}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis", default="redis://127.0.0.1:6379")
    ap.add_argument("--prefix", default="queuecast")
    ap.add_argument("--pbx", required=True)
    ap.add_argument("--idle-exit", type=float, metavar="S", help="print the state as JSON and exit when idle")
    args = ap.parse_args()
    block_ms = int(args.idle_exit * 1000) if args.idle_exit else 5000
    # A read may block for block_ms (XREAD BLOCK); longer than that plus a margin means the server is gone.
    r = redis.Redis.from_url(args.redis, decode_responses=True, socket_timeout=block_ms / 1000 + 10)
    base = f"{args.prefix}:{{{args.pbx}}}"
    delay = BACKOFF_MIN_S
    while True:
        try:
            follow(r, base, block_ms, args.idle_exit)
            return
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as err:
            # Jittered in the upper half of the delay, so many consumers do not reconnect in lock-step.
            wait = random.uniform(delay / 2, delay)
            print(f"redis error: {err}; new snapshot in {wait:.1f} s", flush=True)
            time.sleep(wait)
            delay = min(delay * 2, BACKOFF_MAX_S)


if __name__ == "__main__":
    main()
