import { describe, expect, it } from 'vitest';
import { type Component, Lifecycle } from './lifecycle.js';
import { createLogger } from './logger.js';

const log = createLogger({ level: 'silent' });

function recorder() {
  const events: string[] = [];
  const part = (
    name: string,
    opts: { failStart?: boolean; failClose?: boolean; gate?: Promise<void> } = {},
  ) =>
    ({
      name,
      async start() {
        events.push(`start ${name}`);
        await opts.gate;
        if (opts.failStart) throw new Error(`${name} cannot start`);
      },
      async close() {
        events.push(`close ${name}`);
        if (opts.failClose) throw new Error(`${name} cannot close`);
      },
    }) satisfies Component;
  return { events, part };
}

describe('Lifecycle', () => {
  it('starts in order and closes in reverse', async () => {
    const { events, part } = recorder();
    const lc = new Lifecycle(log);
    lc.add(part('db'));
    lc.add(part('state'));
    lc.add({ name: 'no-hooks' });
    lc.add(part('http'));
    await lc.start();
    await lc.close();
    expect(events).toEqual([
      'start db',
      'start state',
      'start http',
      'close http',
      'close state',
      'close db',
    ]);
  });

  it('closes once however often close is called, also concurrently', async () => {
    const { events, part } = recorder();
    const lc = new Lifecycle(log);
    lc.add(part('a'));
    await lc.start();
    await Promise.all([lc.close(), lc.close()]);
    await lc.close();
    expect(events.filter((e) => e.startsWith('close'))).toEqual(['close a']);
  });

  it('starts once however often start is called', async () => {
    const { events, part } = recorder();
    const lc = new Lifecycle(log);
    lc.add(part('a'));
    await Promise.all([lc.start(), lc.start()]);
    expect(events).toEqual(['start a']);
    await lc.close();
  });

  it('a failed start closes what had started, in reverse, and rethrows', async () => {
    const { events, part } = recorder();
    const lc = new Lifecycle(log);
    lc.add(part('db'));
    lc.add(part('state'));
    lc.add(part('broken', { failStart: true }));
    lc.add(part('http'));
    await expect(lc.start()).rejects.toThrow('broken cannot start');
    expect(events).toEqual(['start db', 'start state', 'start broken', 'close state', 'close db']);
    await lc.close();
    expect(events.filter((e) => e.startsWith('close'))).toHaveLength(2);
  });

  it('a failing close does not stop the other closes', async () => {
    const { events, part } = recorder();
    const lc = new Lifecycle(log);
    lc.add(part('a'));
    lc.add(part('b', { failClose: true }));
    lc.add(part('c'));
    await lc.start();
    await expect(lc.close()).resolves.toBeUndefined();
    expect(events.slice(3)).toEqual(['close c', 'close b', 'close a']);
  });

  it('a close during the start waits for the part starting, closes everything started and stops the start', async () => {
    const { events, part } = recorder();
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const lc = new Lifecycle(log);
    lc.add(part('db'));
    lc.add(part('slow', { gate }));
    lc.add(part('http'));
    const started = lc.start();
    // Wait until the slow part is starting.
    while (!events.includes('start slow')) await Promise.resolve();
    const closed = lc.close();
    open();
    await expect(started).rejects.toThrow(/closed while starting slow/);
    await closed;
    expect(events).toEqual(['start db', 'start slow', 'close slow', 'close db']);
  });

  it('nothing starts after a close', async () => {
    const { events, part } = recorder();
    const lc = new Lifecycle(log);
    lc.add(part('a'));
    await lc.close();
    await expect(lc.start()).rejects.toThrow(/closed while starting/);
    expect(events).toEqual([]);
  });
});
