/**
 * The child side of the harness protocol: a child process announces itself with `ready(info)`
 * and then answers `{ id, cmd, args }` requests from the harness with `{ id, ok, result | error }`.
 * `stop` closes what the child opened and exits normally, so `--cpu-prof` profiles get written.
 */

export type Handlers = Record<string, (args: any) => unknown | Promise<unknown>>;

export function serve(
  handlers: Handlers,
  onStop: () => Promise<void> | void,
  info: Record<string, unknown> = {},
): void {
  if (!process.send)
    throw new Error('this script runs as a child of the bench harness (loadtest/bench/cli.ts)');
  process.on('message', async (msg: { id: number; cmd: string; args: unknown }) => {
    if (msg.cmd === 'stop') {
      try {
        await onStop();
      } finally {
        process.send!({ id: msg.id, ok: true, result: null }, () => process.exit(0));
      }
      return;
    }
    const h = handlers[msg.cmd];
    try {
      if (!h) throw new Error(`unknown command ${msg.cmd}`);
      const result = await h(msg.args);
      process.send!({ id: msg.id, ok: true, result: result ?? null });
    } catch (err) {
      process.send!({ id: msg.id, ok: false, error: (err as Error).stack ?? String(err) });
    }
  });
  // The harness going away must not leave servers behind.
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true, info });
}

/** Node's heap and RSS after a full collection (children run with --expose-gc). */
export function memoryAfterGc(): {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
} {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  };
}
