/** Waits for the gateway's delivery.receipt events and outbox outcomes in tests (no polling). */
import type { BusEvent } from '../../src/plugins/types.js';
import type { TestNexus } from '../helpers/nexus.js';

/** Collects the gateway's delivery.receipt events and waits for one. */
export function receipts(t: TestNexus) {
  const seen: BusEvent[] = [];
  const waiters: Array<() => void> = [];
  t.nexus.plugins.bus.subscribe('test-receipts', { types: ['delivery.receipt'] }, (e) => {
    seen.push(e);
    for (const w of waiters.splice(0)) w();
  });
  const find = (messageId: string, state: string) =>
    seen.find((e) => e.data.messageId === messageId && e.data.state === state);
  return {
    seen,
    async wait(messageId: string, state: string, timeoutMs = 20_000): Promise<BusEvent> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const e = find(messageId, state);
        if (e) return e;
        if (Date.now() > deadline) throw new Error(`no ${state} receipt for ${messageId}`);
        await new Promise<void>((r) => {
          const timer = setTimeout(r, deadline - Date.now());
          waiters.push(() => {
            clearTimeout(timer);
            r();
          });
        });
      }
    },
  };
}

/** Resolves with the final outcome of one outbox row (once it is committed). */
export function outboxOutcome(t: TestNexus, rowId: string): Promise<'done' | 'dead'> {
  return new Promise((resolve) => {
    t.nexus.plugins.onOutcome.push((row, outcome) => {
      if (row.id === rowId) return () => resolve(outcome);
    });
  });
}
