/**
 * The harness side of process orchestration: every server and load generator is its own Node
 * process (TypeScript through tsx), driven over the IPC channel, so that the generators' CPU
 * never counts as the server's and each can be measured from /proc.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface StartOptions {
  args?: string[];
  /** Extra Node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=…']. */
  nodeFlags?: string[];
  env?: Record<string, string>;
  /** How long to wait for the child's `ready`. */
  readyTimeoutMs?: number;
}

export class Child {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private exited = false;
  private readonly exitPromise: Promise<number | null>;

  private constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
    readonly info: Record<string, any>,
  ) {
    this.exitPromise = new Promise((r) =>
      proc.once('exit', (code) => {
        this.exited = true;
        for (const p of this.pending.values()) p.reject(new Error(`${name} exited (code ${code})`));
        this.pending.clear();
        r(code);
      }),
    );
    proc.on('message', (m: any) => {
      if (typeof m?.id !== 'number') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`${name}: ${m.error}`));
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  static start(name: string, script: string, opts: StartOptions = {}): Promise<Child> {
    const file = script.startsWith('/') ? script : fileURLToPath(new URL(script, import.meta.url));
    const proc = fork(file, opts.args ?? [], {
      execArgv: ['--import', 'tsx', '--expose-gc', ...(opts.nodeFlags ?? [])],
      env: { ...process.env, ...(opts.env ?? {}) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`${name} did not start within ${opts.readyTimeoutMs ?? 60_000} ms`));
      }, opts.readyTimeoutMs ?? 60_000);
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited during start (code ${code})`));
      };
      proc.once('exit', onExit);
      proc.on('message', function first(m: any) {
        if (!m?.ready) return;
        proc.off('message', first);
        proc.off('exit', onExit);
        clearTimeout(timer);
        resolve(new Child(name, proc, m.info ?? {}));
      });
    });
  }

  call<T = any>(cmd: string, args: unknown = {}, timeoutMs = 300_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ id, cmd, args });
    });
  }

  /** Asks the child to close and exit; kills it when it does not within `graceMs`. Idempotent. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.exited) return;
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    this.call('stop', {}, graceMs).catch(() => undefined);
    await this.exitPromise;
    clearTimeout(timer);
  }
}
