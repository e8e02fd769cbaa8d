#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm install` through the prepare script).
import('../dist/bin/cli.js').catch((e) => {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/bin/cli.js')) {
    process.stderr.write('rebake: not compiled yet; run `npm install` (or `npm run build`) in the rebake folder\n');
    process.exit(1);
  }
  throw e;
});
