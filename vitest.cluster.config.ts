import { defineConfig } from 'vitest/config';

/**
 * `npm run test:cluster`: the multi-node and fault suites (each starts its own redis-server,
 * Redis Cluster and PostgreSQL, and gateway child processes) and the fuzz suites. Files run one at
 * a time: each already runs several processes, and the machines they run on have few cores.
 */
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts', 'test/fuzz/**/*.test.ts'],
    testTimeout: 90_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
  },
});
