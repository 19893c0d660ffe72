/**
 * Socket.IO v5 over Engine.IO v4 framing, written as plain ES2020 with no imports so that the
 * same file runs in k6 (over `k6/websockets`) and in Node (the bench generators and the shape
 * test, which checks it against a real socket.io server). WebSocket transport only: the client
 * opens `ws://host<path>/?EIO=4&transport=websocket` directly, without the HTTP long-polling
 * handshake, exactly as socket.io-client does with `transports: ['websocket']`.
 */

/** Engine.IO packet types (the first character of every frame). */
export const EIO = { OPEN: '0', CLOSE: '1', PING: '2', PONG: '3', MESSAGE: '4', UPGRADE: '5', NOOP: '6' };

/** Socket.IO packet types (the character after the Engine.IO `4`). */
export const SIO = {
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
};

/** The WebSocket URL of a socket.io server: `http://h:1/` + `/chat/v3/socket.io` → `ws://h:1/chat/v3/socket.io/?EIO=4&transport=websocket`. */
export function socketUrl(baseUrl, path) {
  const base = baseUrl.replace(/^http/, 'ws').replace(/\/+$/, '');
  const p = (path || '/socket.io').replace(/\/+$/, '');
  return `${base}${p}/?EIO=4&transport=websocket`;
}

function nspPrefix(nsp) {
  return !nsp || nsp === '/' ? '' : `${nsp},`;
}

/** CONNECT to a namespace, with the auth object the server's middleware reads (`socket.handshake.auth`). */
export function encodeConnect(nsp, auth) {
  return `${EIO.MESSAGE}${SIO.CONNECT}${nspPrefix(nsp)}${auth === undefined ? '' : JSON.stringify(auth)}`;
}

/** DISCONNECT from a namespace (the socket stays open for other namespaces). */
export function encodeDisconnect(nsp) {
  return `${EIO.MESSAGE}${SIO.DISCONNECT}${nspPrefix(nsp)}`;
}

/** An EVENT `[name, ...args]`; with `ackId` (a non-negative integer) the server's callback answers with an ACK of that id. */
export function encodeEvent(nsp, name, args, ackId) {
  const id = ackId === undefined || ackId === null ? '' : String(ackId);
  return `${EIO.MESSAGE}${SIO.EVENT}${nspPrefix(nsp)}${id}${JSON.stringify([name].concat(args || []))}`;
}

/** An ACK answering a server event that asked for one. */
export function encodeAck(nsp, ackId, args) {
  return `${EIO.MESSAGE}${SIO.ACK}${nspPrefix(nsp)}${ackId}${JSON.stringify(args || [])}`;
}

/**
 * Decodes one text frame. Returns `{ eio, data }` for Engine.IO control frames (`open` carries the
 * handshake: sid, pingInterval, pingTimeout, maxPayload) and `{ eio: 'message', sio }` for
 * socket.io packets, where `sio` is `{ type, nsp, id, data }` (`data` is the decoded JSON: the
 * event array, the ack arguments, the connect payload or the connect error).
 */
export function decodeFrame(frame) {
  if (typeof frame !== 'string' || frame.length === 0) return { eio: 'unknown', data: frame };
  const t = frame[0];
  const rest = frame.slice(1);
  switch (t) {
    case EIO.OPEN:
      return { eio: 'open', data: safeJson(rest) };
    case EIO.CLOSE:
      return { eio: 'close' };
    case EIO.PING:
      return { eio: 'ping', data: rest };
    case EIO.PONG:
      return { eio: 'pong', data: rest };
    case EIO.NOOP:
      return { eio: 'noop' };
    case EIO.MESSAGE:
      return { eio: 'message', sio: decodePacket(rest) };
    default:
      return { eio: 'unknown', data: frame };
  }
}

/** Decodes a socket.io packet string (the part after the Engine.IO `4`). */
export function decodePacket(s) {
  let i = 0;
  const type = Number(s[i]);
  i++;
  if (type === SIO.BINARY_EVENT || type === SIO.BINARY_ACK) {
    // Binary attachments arrive as separate frames; the generators and k6 scenario never use them.
    while (i < s.length && s[i] !== '-') i++;
    i++;
  }
  let nsp = '/';
  if (s[i] === '/') {
    const comma = s.indexOf(',', i);
    const end = comma === -1 ? s.length : comma;
    nsp = s.slice(i, end);
    i = comma === -1 ? s.length : comma + 1;
  }
  let id;
  const start = i;
  while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
  if (i > start) id = Number(s.slice(start, i));
  const body = s.slice(i);
  return { type, nsp, id, data: body ? safeJson(body) : undefined };
}

function safeJson(s) {
  try {
    return JSON.parse(s);
  } catch (_e) {
    return undefined;
  }
}

/**
 * A small socket.io client over any WebSocket-like object with `send(string)` (k6's WebSocket,
 * Node's `ws`). Feed it every text frame with `onFrame`; it answers pings, tracks namespace
 * connects, routes acks to their callbacks and events to `handlers[nsp][event]`.
 */
export class SocketIoConnection {
  constructor(ws) {
    this.ws = ws;
    this.nextAck = 0;
    this.acks = new Map();
    this.handlers = {};
    this.connected = {};
    this.onConnect = {};
    this.onConnectError = {};
    this.onOpen = undefined;
    this.handshake = undefined;
  }

  /** Asks to join a namespace; `onOk(data)` or `onError(data)` runs when the server answers. */
  connect(nsp, auth, onOk, onError) {
    this.onConnect[nsp] = onOk;
    this.onConnectError[nsp] = onError;
    this.ws.send(encodeConnect(nsp, auth));
  }

  on(nsp, event, fn) {
    if (!this.handlers[nsp]) this.handlers[nsp] = {};
    this.handlers[nsp][event] = fn;
  }

  /** Emits an event; with `ackFn` the server's ack arrives as `ackFn(...args)`. */
  emit(nsp, event, args, ackFn) {
    let id;
    if (ackFn) {
      id = this.nextAck++;
      this.acks.set(`${nsp}#${id}`, ackFn);
    }
    this.ws.send(encodeEvent(nsp, event, args, id));
  }

  /** Handles one frame; returns the decoded frame for callers that want to look at it. */
  onFrame(frame) {
    const f = decodeFrame(frame);
    if (f.eio === 'ping') {
      this.ws.send(EIO.PONG + (f.data || ''));
    } else if (f.eio === 'open') {
      this.handshake = f.data;
      if (this.onOpen) this.onOpen(f.data);
    } else if (f.eio === 'message' && f.sio) {
      const p = f.sio;
      if (p.type === SIO.CONNECT) {
        this.connected[p.nsp] = true;
        const fn = this.onConnect[p.nsp];
        if (fn) fn(p.data);
      } else if (p.type === SIO.CONNECT_ERROR) {
        this.connected[p.nsp] = false;
        const fn = this.onConnectError[p.nsp];
        if (fn) fn(p.data);
      } else if (p.type === SIO.DISCONNECT) {
        this.connected[p.nsp] = false;
      } else if (p.type === SIO.ACK) {
        const key = `${p.nsp}#${p.id}`;
        const fn = this.acks.get(key);
        if (fn) {
          this.acks.delete(key);
          fn.apply(null, Array.isArray(p.data) ? p.data : []);
        }
      } else if (p.type === SIO.EVENT && Array.isArray(p.data)) {
        const h = this.handlers[p.nsp];
        const fn = h ? h[p.data[0]] : undefined;
        if (fn) {
          const args = p.data.slice(1);
          if (p.id !== undefined) {
            const nsp = p.nsp;
            const ackId = p.id;
            args.push((...reply) => this.ws.send(encodeAck(nsp, ackId, reply)));
          }
          fn.apply(null, args);
        }
      }
    }
    return f;
  }
}
