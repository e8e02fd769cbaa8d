import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // onnxruntime sessions are heavy; two cores: one file at a time per worker is plenty.
    pool: 'forks',
    maxWorkers: 2,
  },
});
