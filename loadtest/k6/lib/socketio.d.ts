/** Types for socketio.js (plain JS so that k6 can load it unchanged). */
export declare const EIO: {
  OPEN: '0';
  CLOSE: '1';
  PING: '2';
  PONG: '3';
  MESSAGE: '4';
  UPGRADE: '5';
  NOOP: '6';
};
export declare const SIO: {
  CONNECT: 0;
  DISCONNECT: 1;
  EVENT: 2;
  ACK: 3;
  CONNECT_ERROR: 4;
  BINARY_EVENT: 5;
  BINARY_ACK: 6;
};
export interface SioPacket {
  type: number;
  nsp: string;
  id?: number;
  data?: any;
}
export interface Frame {
  eio: 'open' | 'close' | 'ping' | 'pong' | 'noop' | 'message' | 'unknown';
  data?: any;
  sio?: SioPacket;
}
export declare function socketUrl(baseUrl: string, path?: string): string;
export declare function encodeConnect(nsp: string, auth?: unknown): string;
export declare function encodeDisconnect(nsp: string): string;
export declare function encodeEvent(nsp: string, name: string, args?: unknown[], ackId?: number): string;
export declare function encodeAck(nsp: string, ackId: number, args?: unknown[]): string;
export declare function decodeFrame(frame: string): Frame;
export declare function decodePacket(s: string): SioPacket;
export interface WebSocketLike {
  send(data: string): void;
}
export declare class SocketIoConnection {
  constructor(ws: WebSocketLike);
  handshake: any;
  connected: Record<string, boolean>;
  onOpen: ((handshake: any) => void) | undefined;
  connect(nsp: string, auth: unknown, onOk?: (data: any) => void, onError?: (data: any) => void): void;
  on(nsp: string, event: string, fn: (...args: any[]) => void): void;
  emit(nsp: string, event: string, args: unknown[], ackFn?: (...args: any[]) => void): void;
  onFrame(frame: string): Frame;
}
