#!/usr/bin/env python3
"""Minimal gap-free queuecast consumer (redis-py >= 4): snapshot, then follow the stream.

    pip install redis
    python3 examples/consumer.py --redis redis://127.0.0.1:6379 --pbx pbx1

Prints one line per applied change. Protocol: docs/consumers.md.
With --idle-exit S it prints the state it rebuilt as one JSON line and exits once the stream has been quiet
for S seconds: a deployment check (compare it with the hashes) and what the project's tests run.
"""

import argparse
import json

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis", default="redis://127.0.0.1:6379")
    ap.add_argument("--prefix", default="queuecast")
    ap.add_argument("--pbx", required=True)
    ap.add_argument("--idle-exit", type=float, metavar="S", help="print the state as JSON and exit when idle")
    args = ap.parse_args()
    block_ms = int(args.idle_exit * 1000) if args.idle_exit else 5000
    r = redis.Redis.from_url(args.redis, decode_responses=True)
    base = f"{args.prefix}:{{{args.pbx}}}"
    stream = f"{base}:stream"

    seq, epoch, state = snapshot(r, base)
    print(f"snapshot seq={seq} agents={len(state['agents'])} queues={len(state['queues'])}")
    while True:
        reply = r.xread({stream: f"{seq}-0"}, count=1000, block=block_ms)
        if not reply and args.idle_exit:
            print(json.dumps({"seq": seq, **state}, sort_keys=True))
            return
        for _key, entries in reply or []:
            for _entry_id, fields in entries:
                msg = json.loads(fields["payload"])
                if msg["epoch"] != epoch or msg["type"] == "resync" or msg["seq"] > seq + 1:
                    seq, epoch, state = snapshot(r, base)  # restart, rebuild or gap: start over
                    print(f"re-snapshot seq={seq} ({msg['type']})")
                    break
                if msg["seq"] <= seq:
                    continue  # already in the snapshot
                apply(state, msg)
                seq = msg["seq"]
                print(f"{seq} {msg['type']} {msg['id']}")


if __name__ == "__main__":
    main()
