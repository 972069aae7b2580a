// Loaded into every node process of `npm run test:sanitize` (NODE_OPTIONS=--require, scripts/test-sanitize.sh).
// The run preloads GCC's ASan runtime (LD_PRELOAD) into everything, because every node process of the suite may
// load the instrumented addon. Two kinds of child executable cannot take it, and never load the addon or start a
// node, so for those only LD_PRELOAD is dropped from the child's environment (everything else keeps it: node,
// sh, util-linux `script`):
//   - the libFuzzer harnesses in build/fuzz (test/fuzz-regressions.test.ts replays inputs through them): they link
//     clang's own ASan runtime statically and refuse a second one ("linked against incompatible ASan runtimes");
//   - Chromium (test/browser.test.ts, through playwright-core): it aborts at start with the runtime preloaded.
'use strict';
const childProcess = require('node:child_process');
const path = require('node:path');

const ownRuntime = path.join(path.resolve(__dirname, '..'), 'build', 'fuzz') + path.sep;
const needsNoPreload = (file) =>
  typeof file === 'string' &&
  (path.resolve(file).startsWith(ownRuntime) || /^(chromium|chrome|headless_shell)$/.test(path.basename(file)));

function withoutPreload(options) {
  const env = { ...((options && options.env) || process.env) };
  delete env.LD_PRELOAD;
  return { ...options, env };
}

for (const name of ['spawn', 'spawnSync']) {
  const original = childProcess[name];
  childProcess[name] = function (file, ...rest) {
    if (!needsNoPreload(file)) return original.call(this, file, ...rest);
    const args = Array.isArray(rest[0]) ? rest.shift() : [];
    const options = rest[0] && typeof rest[0] === 'object' ? rest.shift() : {};
    return original.call(this, file, args, withoutPreload(options), ...rest);
  };
}
