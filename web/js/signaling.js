// The signalling WebSocket (docs/protocol.md): requests with ids and replies, server
// events, a ping every 20 s, and the cause when the connection ends.

const PROTOCOL_VERSION = 1;
const PING_INTERVAL_MS = 20000;
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
  }

  /** Open the socket; resolves when it is open. */
  connect() {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url);
      this.socket = socket;
      socket.addEventListener("open", () => {
        this.pingTimer = setInterval(() => this.request("ping").catch(() => {}), PING_INTERVAL_MS);
        resolve();
      });
      socket.addEventListener("message", (event) => this.receive(event.data));
      socket.addEventListener("close", (event) => {
        clearInterval(this.pingTimer);
        const wasOpen = this.pingTimer !== null;
        for (const { reject: fail, timer } of this.pending.values()) {
          clearTimeout(timer);
          fail(new SignalingError("connection_lost", "the connection closed"));
        }
        this.pending.clear();
        if (!wasOpen) {
          reject(new SignalingError("connect", "the server cannot be reached"));
          return;
        }
        for (const handler of this.closeHandlers) handler(this.closingCause, event.code);
      });
    });
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
