import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // test/cluster and test/fuzz run under `npm run test:cluster` (vitest.cluster.config.ts).
    exclude: ['test/cluster/**', 'test/fuzz/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
