import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites start real servers (sshd, SMTP, the store) on loopback; forks keep them apart.
    pool: 'forks',
    reporters: ['default'],
  },
});
