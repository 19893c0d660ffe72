/** Run sizes: `smoke` (CI: does it all still run), `quick` (under 5 minutes here), `full`. */
export interface Sizes {
  name: 'smoke' | 'quick' | 'full';
  relay: {
    conversations: number;
    startRate: number;
    maxRate: number;
    /** Multiplier between ramp steps, then this many bisections between the last pass and the first miss. */
    factor: number;
    refine: number;
    /** Repeat a missed step once before believing it. */
    confirmMiss: boolean;
    stepMs: number;
    warmupMs: number;
    drainMs: number;
    /** The sustained-rate criterion: p99 below this. */
    p99LimitMs: number;
  };
  latency: { durationMs: number };
  idle: { connections: number };
  resume: {
    customers: number;
    perAgent: number;
    agentRate: number;
    beforeDropMs: number;
    afterDropMs: number;
    drainMs: number;
  };
  durable: { conversations: number; perAgent: number; window: number; durationMs: number; pgBatch: number };
  settings: { conversations: number; rate: number; warmupMs: number; durationMs: number; windows: number[] };
  /** Deliveries drained per round and mode, and the rounds (modes alternate). */
  outbox: { rows: number; rounds: number };
}

export const SIZES: Record<Sizes['name'], Sizes> = {
  smoke: {
    name: 'smoke',
    relay: {
      conversations: 4,
      startRate: 50,
      maxRate: 50,
      factor: 2,
      refine: 0,
      confirmMiss: false,
      stepMs: 500,
      warmupMs: 300,
      drainMs: 1000,
      p99LimitMs: 50,
    },
    latency: { durationMs: 500 },
    idle: { connections: 20 },
    resume: { customers: 6, perAgent: 3, agentRate: 30, beforeDropMs: 500, afterDropMs: 500, drainMs: 5000 },
    durable: { conversations: 4, perAgent: 2, window: 2, durationMs: 500, pgBatch: 50 },
    settings: { conversations: 2, rate: 20, warmupMs: 200, durationMs: 300, windows: [0, 2] },
    outbox: { rows: 50, rounds: 1 },
  },
  quick: {
    name: 'quick',
    relay: {
      conversations: 100,
      startRate: 250,
      maxRate: 64_000,
      factor: 2,
      refine: 1,
      confirmMiss: true,
      stepMs: 2000,
      warmupMs: 1000,
      drainMs: 1500,
      p99LimitMs: 50,
    },
    latency: { durationMs: 6000 },
    idle: { connections: 3000 },
    resume: {
      customers: 1000,
      perAgent: 50,
      agentRate: 300,
      beforeDropMs: 3000,
      afterDropMs: 5000,
      drainMs: 15_000,
    },
    durable: { conversations: 200, perAgent: 20, window: 4, durationMs: 5000, pgBatch: 100 },
    settings: { conversations: 50, rate: 200, warmupMs: 1000, durationMs: 3000, windows: [0, 2, 10] },
    outbox: { rows: 2000, rounds: 3 },
  },
  full: {
    name: 'full',
    relay: {
      conversations: 500,
      startRate: 500,
      maxRate: 256_000,
      factor: 2,
      refine: 3,
      confirmMiss: true,
      stepMs: 10_000,
      warmupMs: 5000,
      drainMs: 3000,
      p99LimitMs: 50,
    },
    latency: { durationMs: 60_000 },
    idle: { connections: 16_000 },
    resume: {
      customers: 10_000,
      perAgent: 100,
      agentRate: 1000,
      beforeDropMs: 10_000,
      afterDropMs: 15_000,
      drainMs: 60_000,
    },
    durable: { conversations: 1000, perAgent: 50, window: 4, durationMs: 20_000, pgBatch: 100 },
    settings: {
      conversations: 200,
      rate: 500,
      warmupMs: 3000,
      durationMs: 10_000,
      windows: [0, 2, 5, 10, 25],
    },
    outbox: { rows: 10_000, rounds: 5 },
  },
};
