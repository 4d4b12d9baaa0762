// queuecast live client: follows one PBX over the gateway's WebSocket (gap-free on the server side), keeps
// the state, reconnects by itself and resumes where it stopped (since + epoch), and keeps the offset to the
// server clock so timers agree with the PBX whatever the browser's clock says. No dependencies.
"use strict";
(function () {
  const params = new URLSearchParams(location.search);

  class Follow {
    constructor(opts) {
      this.token = opts.token || params.get("token") || "";
      this.pbx = opts.pbx || params.get("pbx") || "";
      this.filters = opts.filters || [];
      this.onchange = opts.onchange || (() => {});
      this.onstatus = opts.onstatus || (() => {});
      this.state = { agents: {}, queues: {}, calls: {} };
      this.epoch = "";
      this.seq = 0;
      this.offsetMs = 0;
      this.backoffMs = 500;
      this.ws = null;
      this.lastFrame = Date.now();
    }

    /** Server time now, in ms (timers count from the PBX's clock, not the browser's). */
    now() { return Date.now() + this.offsetMs; }

    async start() {
      if (!this.pbx) {
        this.pbx = await this.firstPbx();
      }
      this.syncClock();
      this.connect();
      // A connection that went silent for two pings is dead even if the browser has not noticed.
      setInterval(() => {
        if (this.ws && Date.now() - this.lastFrame > 35000) { this.ws.close(); }
      }, 5000);
    }

    async firstPbx() {
      for (;;) {
        try {
          const r = await fetch("/v1/pbx", { headers: { Authorization: "Bearer " + this.token } });
          if (r.ok) {
            const list = await r.json();
            if (list.length) { return list[0].pbx; }
          } else if (r.status === 401 || r.status === 403) {
            this.onstatus("token refused (" + r.status + ")", false);
          }
        } catch (e) { /* retried below */ }
        await new Promise((res) => setTimeout(res, 2000));
      }
    }

    async syncClock() {
      try {
        const before = Date.now();
        const r = await fetch("/v1/time");
        const { ts } = await r.json();
        this.offsetMs = ts - (before + Date.now()) / 2;
      } catch (e) { /* keep the last offset */ }
    }

    url() {
      const q = new URLSearchParams();
      q.set("token", this.token);
      for (const [k, v] of this.filters) { q.append(k, v); }
      if (this.epoch) { q.set("since", String(this.seq)); q.set("epoch", this.epoch); }
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      return proto + "//" + location.host + "/v1/" + encodeURIComponent(this.pbx) + "/ws?" + q.toString();
    }

    connect() {
      const ws = new WebSocket(this.url());
      this.ws = ws;
      ws.onopen = () => { this.backoffMs = 500; this.onstatus("live", true); };
      ws.onmessage = (ev) => { this.lastFrame = Date.now(); this.apply(JSON.parse(ev.data)); };
      ws.onclose = () => {
        if (this.ws !== ws) { return; }
        this.ws = null;
        this.onstatus("reconnecting…", false);
        const wait = this.backoffMs * (0.5 + Math.random() / 2);
        this.backoffMs = Math.min(this.backoffMs * 2, 10000);
        setTimeout(() => this.connect(), wait);
      };
    }

    apply(msg) {
      switch (msg.type) {
        case "snapshot":
          this.state = { agents: msg.agents || {}, queues: msg.queues || {}, calls: {} };
          this.offsetMs = msg.ts - Date.now();
          break;
        case "ping":
          this.offsetMs = msg.ts - Date.now();
          break;
        case "agent_update": this.state.agents[msg.id] = msg.data; break;
        case "agent_removed": delete this.state.agents[msg.id]; break;
        case "queue_update": this.state.queues[msg.id] = msg.data; break;
        case "call_update": this.state.calls[msg.id] = msg.data; break;
        default: break;
      }
      if (msg.epoch) { this.epoch = msg.epoch; }
      if (typeof msg.seq === "number") { this.seq = msg.seq; }
      if (msg.type !== "ping") { this.onchange(this.state, msg); }
    }
  }

  /** "1:05", "12:40", "1:02:03" from a duration in ms. */
  function clock(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
  }

  /** A text node safe for any value (names and caller ids come from the PBX). */
  function text(value) { return value === null || value === undefined ? "" : String(value); }

  window.queuecast = { Follow, clock, text, params };
})();
