// A stand-in for the browser's WebSocket, enough for MmoClient: it records
// what the client sends and lets a test play the server.

export class FakeSocket {
  /** Every socket made, oldest first. */
  static made = [];
  static #waiters = [];

  /** Resolves with the next socket made (or the n-th, counting from 1). */
  static next(count = FakeSocket.made.length + 1) {
    if (FakeSocket.made.length >= count) return Promise.resolve(FakeSocket.made[count - 1]);
    return new Promise((resolve) => FakeSocket.#waiters.push({ count, resolve }));
  }

  static reset() {
    FakeSocket.made = [];
    FakeSocket.#waiters = [];
  }

  constructor(url) {
    this.url = new URL(url);
    this.readyState = 1; // MmoClient sends only on an open socket; it opens at once here
    this.sent = [];
    this.closedWith = null;
    this.onmessage = null;
    this.onclose = null;
    FakeSocket.made.push(this);
    for (const w of FakeSocket.#waiters.filter((w) => w.count <= FakeSocket.made.length)) w.resolve(this);
    FakeSocket.#waiters = FakeSocket.#waiters.filter((w) => w.count > FakeSocket.made.length);
  }

  send(text) {
    this.sent.push(JSON.parse(text));
  }

  close(code) {
    this.readyState = 3;
    this.closedWith = code;
  }

  /** The server sends `msg` (an object, or raw text). */
  receive(msg) {
    this.onmessage?.({ data: typeof msg === "string" ? msg : JSON.stringify(msg) });
  }

  /** The server closes the connection. */
  drop(code, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** Messages sent of one type. */
  sentOf(type) {
    return this.sent.filter((m) => m.type === type);
  }
}
