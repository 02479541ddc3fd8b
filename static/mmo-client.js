// The asgi-mmo protocol, version 1, for browsers. No DOM beyond WebSocket and
// EventTarget, no canvas: a game page builds its view on top of this.
//
//   import { MmoClient } from "/static/mmo-client.js";
//   import { applySnakeDelta } from "/static/snake-delta.js";
//   const client = new MmoClient({ applyDelta: applySnakeDelta });
//   client.addEventListener("tick", () => draw(client.snapshot));
//   client.connect({ url: "ws://host/ws", name: "ada", room: "r1" });
//
// Events (all `CustomEvent`s; the payload is in `event.detail`):
//   status   {status, attempt, delay}  "connecting" | "open" | "reconnecting" | "closed"
//   welcome  the welcome message (snapshot, player id, token, room ...)
//   tick     the tick message, after its change was applied to `snapshot`
//   state    the state message, after it replaced `snapshot`
//   chat     {player, name, text}
//   minimap  a view room's minimap message (extension: docs/protocol.md)
//   pong     {t, rtt}
//   error    the server's error message {code, message}
//   close    {code, reason, error, reconnect}  the socket closed; `error` is the
//            last error code the server sent before it (or one derived from
//            the close code), `reconnect` tells whether the client retries.
// See docs/client.md for the whole API.

/** Close codes after which retrying with the same parameters cannot help. */
export const FATAL_CLOSE_CODES = Object.freeze({
  1000: "left",
  4001: "room_closed",
  4002: "replaced", // extension: a newer connection took this seat over
  4400: "bad_name",
  4401: "bad_token",
  4404: "room_not_found",
  4409: "room_full",
  4403: "unauthorized", // the deployment's authorization refused this player (docs/auth.md)
});

/** Close codes that mean "come back with your token". */
const RESUMABLE_CLOSE_CODES = Object.freeze({
  1008: "too_slow", // also flood; the error message tells which
  1009: "too_big",
  1012: "server_shutdown",
});

/** Errors after which the server closes the socket and retrying is useless. */
const FATAL_ERRORS = new Set([
  "bad_name", "bad_token", "room_not_found", "room_full", "room_closed", "replaced", "unauthorized",
]);

function event(type, detail) {
  return new CustomEvent(type, { detail });
}

export class MmoClient extends EventTarget {
  /**
   * @param {object} options
   * @param {(snapshot: object, msg: object) => object} options.applyDelta
   *   the game's delta applier: brings `snapshot` from tick N-1 to N.
   * @param {(msg: object) => object} [options.readState] the picture of a `welcome`
   *   or `state` (default: its `state`); a view room's game keeps its `view` with it.
   * @param {number} [options.pingInterval=2000] ms between pings.
   * @param {number} [options.backoffBase=250] first reconnect delay, ms.
   * @param {number} [options.backoffMax=4000] reconnect delay cap, ms.
   * @param {typeof WebSocket} [options.WebSocket] for tests.
   */
  constructor({ applyDelta, readState, pingInterval = 2000, backoffBase = 250, backoffMax = 4000, WebSocket: WS } = {}) {
    super();
    if (typeof applyDelta !== "function") throw new TypeError("MmoClient needs an applyDelta function");
    this.applyDelta = applyDelta;
    this.readState = typeof readState === "function" ? readState : (msg) => msg.state;
    this.pingInterval = pingInterval;
    this.backoffBase = backoffBase;
    this.backoffMax = backoffMax;
    this.WebSocket = WS || globalThis.WebSocket;

    this.params = null; // {url, name, room, game, token, view}
    this.ws = null;
    this.status = "closed";
    this.snapshot = null;
    this.tick = null; // tick of `snapshot`
    this.player = null; // this player's id, from welcome
    this.room = null;
    this.game = null;
    this.token = null;
    this.tickRate = null;
    this.welcomed = false; // a welcome arrived on the current socket
    this.syncing = false; // a sync is in flight: ticks are ignored until the state

    this.seq = 0; // last input seq sent
    this.ack = 0; // highest seq the server processed
    this.rtt = null; // last measured round trip, ms
    this.lastError = null; // last error code from the server on this socket
    this.attempt = 0; // reconnect attempts since the last welcome

    this._pingTimer = null;
    this._retryTimer = null;
    this._wanted = false; // the user wants a connection (cleared by leave/close)
    this._onOnline = () => {
      if (this.status === "reconnecting") this._reconnectNow();
    };
  }

  /** Inputs sent that the server has not acknowledged yet. */
  get pendingInputs() {
    return Math.max(0, this.seq - this.ack);
  }

  get connected() {
    return this.status === "open";
  }

  /**
   * Open the connection (closing any previous one). `room` and `token` are
   * optional: without a room the server quick-joins; with a token it resumes
   * that seat. `seq` (optional) continues a previous input numbering, so a
   * resumed seat never sees an old seq again. `view` (optional): a function that
   * gives the view size to ask for, `{width, height}` or null, at every (re)connect.
   */
  connect({ url, name, room = null, game = null, token = null, seq = null, view = null }) {
    if (!url) throw new TypeError("connect needs a url");
    this._teardown();
    this.params = { url, name, room, game, token, view };
    if (seq != null && seq > this.seq) this.seq = seq;
    this._wanted = true;
    this.attempt = 0;
    globalThis.addEventListener?.("online", this._onOnline);
    this._open();
  }

  /** Send `{"type":"input"}` with the next seq; returns the seq (0 if offline). */
  sendInput(data) {
    if (!this.connected) return 0;
    this.seq += 1;
    this._send({ type: "input", seq: this.seq, data });
    return this.seq;
  }

  /** Send a chat line (1..200 characters after trimming); returns whether it went out. */
  sendChat(text) {
    const t = String(text).trim();
    if (!t || t.length > 200 || !this.connected) return false;
    this._send({ type: "chat", text: t });
    return true;
  }

  /** Ask for a view of this size in a view room (ignored elsewhere); returns whether it went out. */
  sendView(width, height) {
    if (!this.connected || !Number.isInteger(width) || !Number.isInteger(height)) return false;
    this._send({ type: "view", width, height });
    return true;
  }

  /** Ask for a full `state`; ticks are ignored until it comes. */
  sync() {
    if (!this.connected || this.syncing) return;
    this.syncing = true;
    this._send({ type: "sync" });
  }

  /** Leave the room for good: the server frees the seat at once. */
  leave() {
    if (this.connected) this._send({ type: "leave" });
    this.close();
  }

  /** Close without leaving (the seat is kept for 30 s); no reconnect. */
  close() {
    this._wanted = false;
    this._teardown();
    this._setStatus("closed");
  }

  // ---- internals -------------------------------------------------------

  _url() {
    const { url, name, room, game, token, view } = this.params;
    const u = new URL(url, globalThis.location?.href);
    if (u.protocol === "http:") u.protocol = "ws:";
    if (u.protocol === "https:") u.protocol = "wss:";
    u.searchParams.set("name", name);
    if (room) u.searchParams.set("room", room);
    if (game) u.searchParams.set("game", game);
    if (token) u.searchParams.set("token", token);
    const size = typeof view === "function" ? view() : null;
    if (size) u.searchParams.set("view", `${size.width}x${size.height}`);
    return u.toString();
  }

  _open() {
    this._setStatus(this.attempt ? "reconnecting" : "connecting");
    this.welcomed = false;
    this.syncing = false;
    this.lastError = null;
    let ws;
    try {
      ws = new this.WebSocket(this._url());
    } catch (err) {
      this._onClose({ code: 1006, reason: String(err) });
      return;
    }
    this.ws = ws;
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      if (msg && typeof msg === "object") this._onMessage(msg);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this._onClose(e);
    };
  }

  _onMessage(msg) {
    switch (msg.type) {
      case "welcome":
        this.welcomed = true;
        this.attempt = 0;
        this.player = msg.player;
        this.room = msg.room;
        this.game = msg.game;
        this.token = msg.token;
        this.tickRate = msg.tick_rate;
        this.snapshot = this.readState(msg);
        this.tick = msg.tick;
        // A resumed seat keeps its id; resume with the newest token and room.
        Object.assign(this.params, { room: msg.room, game: msg.game, token: msg.token });
        this._startPing();
        this._setStatus("open");
        this.dispatchEvent(event("welcome", msg));
        break;
      case "tick":
        if (typeof msg.ack === "number" && msg.ack > this.ack) {
          this.ack = msg.ack;
          if (this.ack > this.seq) this.seq = this.ack; // a resumed seat had sent more
        }
        if (this.syncing || this.snapshot == null) return;
        if (msg.tick !== this.tick + 1) {
          this.sync();
          return;
        }
        this.applyDelta(this.snapshot, msg);
        this.tick = msg.tick;
        this.dispatchEvent(event("tick", msg));
        break;
      case "state":
        this.syncing = false;
        this.snapshot = this.readState(msg);
        this.tick = msg.tick;
        this.dispatchEvent(event("state", msg));
        break;
      case "chat":
      case "minimap":
        this.dispatchEvent(event(msg.type, msg));
        break;
      case "pong":
        if (typeof msg.t === "number") {
          this.rtt = Math.max(0, performance.now() - msg.t);
          this.dispatchEvent(event("pong", { t: msg.t, rtt: this.rtt }));
        }
        break;
      case "error":
        this.lastError = msg.code;
        if (msg.code === "bad_token" && this.params) this.params.token = null;
        this.dispatchEvent(event("error", msg));
        break;
      default:
        break; // unknown messages are extensions we do not know: ignore
    }
  }

  _onClose(e) {
    this._stopPing();
    const code = e.code;
    const error = this.lastError || FATAL_CLOSE_CODES[code] || RESUMABLE_CLOSE_CODES[code] || null;
    const fatal = code in FATAL_CLOSE_CODES || FATAL_ERRORS.has(this.lastError);
    const reconnect = this._wanted && !fatal;
    this.dispatchEvent(event("close", { code, reason: e.reason || "", error, reconnect }));
    if (!reconnect) {
      this._wanted = false;
      this._setStatus("closed");
      return;
    }
    const delay = this._backoff(this.attempt);
    this.attempt += 1;
    this._setStatus("reconnecting", { attempt: this.attempt, delay });
    this._retryTimer = setTimeout(() => this._reconnectNow(), delay);
  }

  /** Exponential backoff with jitter: base * 2^n capped, then 50..100 % of it. */
  _backoff(n) {
    const ceiling = Math.min(this.backoffMax, this.backoffBase * 2 ** n);
    return Math.round(ceiling * (0.5 + Math.random() * 0.5));
  }

  _reconnectNow() {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (!this._wanted || this.ws) return;
    if (this.attempt === 0) this.attempt = 1;
    this._open();
  }

  _startPing() {
    this._stopPing();
    const ping = () => {
      const msg = { type: "ping", t: performance.now() };
      if (this.rtt != null) msg.rtt = Math.round(this.rtt * 10) / 10;
      this._send(msg);
    };
    ping();
    this._pingTimer = setInterval(ping, this.pingInterval);
  }

  _stopPing() {
    clearInterval(this._pingTimer);
    this._pingTimer = null;
  }

  _send(msg) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(msg));
  }

  _teardown() {
    this._stopPing();
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    globalThis.removeEventListener?.("online", this._onOnline);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onmessage = ws.onclose = null;
      try {
        ws.close(1000);
      } catch {
        /* already closing */
      }
    }
  }

  _setStatus(status, extra = {}) {
    this.status = status;
    this.dispatchEvent(event("status", { status, attempt: this.attempt, ...extra }));
  }
}
