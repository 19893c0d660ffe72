/**
 * Compile-time checks (run by `npm run typecheck`, never executed): the realtime layer's
 * namespaces carry the contract's event maps, so an emit the clients do not expect is a compile
 * error. Each `@ts-expect-error` fails the type check when the line it marks compiles, that is,
 * when a namespace or socket is untyped again.
 */
import type { Realtime } from '../../src/gateway/chat/realtime.js';

export function typedEmits(r: Realtime): void {
  // @ts-expect-error: not an event of the agent contract
  r.agent.to('room').emit('conversation.assignd', {});
  // @ts-expect-error: queue.updated carries { queue, conversation }
  r.agent.to('room').emit('queue.updated', { queue: 'sales' });
  // @ts-expect-error: a customer's message is a ChatMessage
  r.consumer.to('room').emit('message', { text: 'hi' });
  // @ts-expect-error: typing to customers names no conversation and needs `typing`
  r.consumer.to('room').volatile.emit('typing', { conversationId: 'x' });
  // @ts-expect-error: the server-side batch event carries messages
  r.consumer.serverSideEmit('nexus:chat:messages', 42);
  r.consumer.on('connection', (socket) => {
    // @ts-expect-error: a socket's data is the consumer's (claims, lastSeq)
    socket.data.agent;
    // @ts-expect-error: session.ended needs its conversation
    socket.emit('session.ended', { reason: 'x' });
  });
}
