import { defineConfig } from 'vitest/config';

/**
 * `npm run test:faults`: the kill -9 loop (test/faults/), apart from the main suite because it
 * runs for minutes and uses both cores by itself (three bot processes started again and again).
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
    reporters: ['default'],
  },
});
