#!/usr/bin/env node
// The installed command: runs the compiled CLI that `npm run build` makes.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('l7mesh: not built yet: run `npm run build` (or infra/setup.sh) in the repository first\n');
  process.exit(2);
}
await import(main.href);
