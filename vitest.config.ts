import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import sibling packages through their one door (src/index.ts), so a
// test run never depends on a stale dist/ build of another package.
const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));
const servicesDir = fileURLToPath(new URL('./services/', import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@l7mesh\/(edge|classifier|control)$/, replacement: `${servicesDir}$1/src/index.ts` },
      { find: /^@l7mesh\/([a-z]+)$/, replacement: `${packagesDir}$1/src/index.ts` },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Compiled pattern databases of test runs go to a throw-away cache, never the user's.
    env: { L7MESH_CACHE_DIR: mkdtempSync(join(tmpdir(), 'l7mesh-test-cache-')) },
  },
});
