/**
 * Every long-lived part has `start` and `close`. Parts start in the order they were added and close
 * in reverse; `close` is idempotent; a failed start closes what had started and rethrows.
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
  private closing: Promise<void> | undefined;

  constructor(private readonly log: Logger) {}

  add<T extends Component>(part: T): T {
    this.parts.push(part);
    return part;
  }

  async start(): Promise<void> {
    for (const part of this.parts) {
      try {
        await part.start?.();
        this.started.push(part);
      } catch (err) {
        this.log.error({ err, component: part.name }, 'start failed');
        await this.close();
        throw err;
      }
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const part of [...this.started].reverse()) {
        try {
          await part.close?.();
        } catch (err) {
          this.log.warn({ err, component: part.name }, 'close failed');
        }
      }
      this.started = [];
    })();
    return this.closing;
  }
}
