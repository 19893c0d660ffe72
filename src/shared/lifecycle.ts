/**
 * Every long-lived part has `start` and `close`. Parts start in the order they were added and close
 * in reverse; `close` is idempotent; a failed start closes what had started and rethrows. A close
 * that arrives during the start (a SIGTERM while connecting) stops the start: nothing is left
 * running behind it.
 */
import type { Logger } from './logger.js';

export interface Component {
  readonly name: string;
  start?(): Promise<void> | void;
  close?(): Promise<void> | void;
}

export class Lifecycle {
  private readonly parts: Component[] = [];
  private started: Component[] = [];
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private inFlight: Promise<unknown> | undefined;

  constructor(private readonly log: Logger) {}

  add<T extends Component>(part: T): T {
    this.parts.push(part);
    return part;
  }

  /** Starts every part once; later calls return the same promise. */
  start(): Promise<void> {
    this.starting ??= this.startAll();
    return this.starting;
  }

  private async startAll(): Promise<void> {
    for (const part of this.parts) {
      if (this.closing) throw new Error(`closed while starting, before ${part.name}`);
      const step = Promise.resolve().then(() => part.start?.());
      this.inFlight = step;
      try {
        await step;
      } catch (err) {
        this.log.error({ err, component: part.name }, 'start failed');
        await this.close();
        throw err;
      } finally {
        this.inFlight = undefined;
      }
      // Started: the close (maybe already waiting for this step) closes it with the others.
      this.started.push(part);
      if (this.closing) throw new Error(`closed while starting ${part.name}`);
    }
  }

  /**
   * Closes the started parts in reverse order, each once; a failing close does not stop the others.
   * A part still starting is waited for first, so that it is closed too, and in order.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.inFlight?.catch(() => {});
      const parts = this.started.reverse();
      this.started = [];
      for (const part of parts) {
        try {
          await part.close?.();
        } catch (err) {
          this.log.warn({ err, component: part.name }, 'close failed');
        }
      }
    })();
    return this.closing;
  }
}
