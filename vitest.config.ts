import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The fault loop kills and restarts bot processes for minutes: `npm run test:faults` (vitest.faults.config.ts).
    exclude: ['test/faults/**', '**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites start real servers (sshd, SMTP, the store) on loopback; forks keep them apart.
    pool: 'forks',
    // Most suites wait on real processes (sshd, timers, other bots), not on the CPU: two files
    // at a time on a 2-core machine (vitest's default there is one).
    maxWorkers: 2,
    reporters: ['default'],
  },
});
