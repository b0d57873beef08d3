// The signalling WebSocket (docs/protocol.md): requests with ids and replies, server
// events, a ping every 5 s, and the cause when the connection ends. A socket that has
// heard nothing for DEAD_AFTER_MS counts as lost at once: a dropped Wi-Fi leaves a
// TCP connection that looks open for minutes.

const PROTOCOL_VERSION = 1;
const PING_INTERVAL_MS = 5000;
const DEAD_AFTER_MS = 12000;
const REQUEST_TIMEOUT_MS = 15000;

export class SignalingError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

export class Signaling {
  constructor(url) {
    this.url = url;
    this.socket = null;
    this.nextId = 1;
    this.pending = new Map();
    this.handlers = new Map();
    this.closeHandlers = [];
    this.closingCause = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.finished = false; // the close handlers ran
  }

  /** Open the socket; resolves when it is open. */
  connect() {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url);
      this.socket = socket;
      socket.addEventListener("open", () => {
        this.lastHeard = Date.now();
        this.pingTimer = setInterval(() => this.keepAlive(), PING_INTERVAL_MS);
        resolve();
      });
      socket.addEventListener("message", (event) => {
        this.lastHeard = Date.now();
        this.receive(event.data);
      });
      socket.addEventListener("close", (event) => {
        const wasOpen = this.pingTimer !== null;
        if (!wasOpen) {
          reject(new SignalingError("connect", "the server cannot be reached"));
        }
        this.finish(event.code);
      });
    });
  }

  keepAlive() {
    if (Date.now() - this.lastHeard > DEAD_AFTER_MS) {
      // Lost without a close: do not wait for TCP to notice.
      if (this.socket) this.socket.close(4000);
      this.finish(null);
      return;
    }
    this.request("ping").catch(() => {});
  }

  /** Fail what waits for a reply and tell the close handlers, once. */
  finish(code) {
    clearInterval(this.pingTimer);
    for (const { reject: fail, timer } of this.pending.values()) {
      clearTimeout(timer);
      fail(new SignalingError("connection_lost", "the connection closed"));
    }
    this.pending.clear();
    if (this.finished || this.pingTimer === null) return;
    this.finished = true;
    for (const handler of this.closeHandlers) handler(this.closingCause, code);
  }

  /** Handle a server event type ("participant_joined", ...). */
  on(type, handler) {
    this.handlers.set(type, handler);
  }

  /** Called once when an open socket closes, with the `closing` cause (or null). */
  onClose(handler) {
    this.closeHandlers.push(handler);
  }

  /** Send a request; resolves with the reply's data, rejects with a SignalingError. */
  request(type, data = {}) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new SignalingError("connection_lost", "not connected"));
    }
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SignalingError("timeout", `no reply to ${type}`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.socket.send(JSON.stringify({ v: PROTOCOL_VERSION, type, id, data }));
    });
  }

  receive(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    if (!message || typeof message !== "object") return;
    if (message.type === "closing") {
      this.closingCause = message.data && message.data.cause;
      return;
    }
    if (message.id !== null && message.id !== undefined) {
      const waiting = this.pending.get(message.id);
      if (!waiting) return;
      this.pending.delete(message.id);
      clearTimeout(waiting.timer);
      if (message.type === "error") {
        waiting.reject(new SignalingError(message.data.code, message.data.message));
      } else {
        waiting.resolve(message.data);
      }
      return;
    }
    const handler = this.handlers.get(message.type);
    if (handler) handler(message.data);
  }

  close() {
    clearInterval(this.pingTimer);
    if (this.socket) this.socket.close(1000);
  }
}

export function signalingUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}
