#!/usr/bin/env node
// npm run build:prebuilds: the portable prebuild for this platform, made by prebuildify into prebuilds/<platform>-<arch>/
// (musicgen-native.<libc>.node + ggml's shared libraries and CPU-variant modules), which npm pack ships.
// prebuildify runs our CMake build through its node-gyp hook and stages in build/prebuild, so the
// development build in build/Release is left alone.
//   extra arguments are passed to build-native.js, e.g. `npm run build:prebuilds -- --cuda` (see docs/prebuilds.md)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const stage = path.join(root, 'build', 'prebuild');
const out = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
fs.rmSync(stage, { recursive: true, force: true });
fs.mkdirSync(path.join(stage, 'build', 'Release'), { recursive: true });
fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify({ name: require('../package.json').name }));
fs.rmSync(out, { recursive: true, force: true });

const quote = (s) => `"${s.replace(/(["\\$`])/g, '\\$1')}"`;
const build = [process.execPath, path.join(root, 'scripts', 'build-native.js'), '--portable', ...process.argv.slice(2)];
build.push('--dest', path.join(stage, 'build', 'Release'));
const prebuildify = path.join(path.dirname(require.resolve('prebuildify/package.json')), 'bin.js');
const args = [prebuildify, '--napi', '--strip', '--tag-libc', '--cwd', stage, '--out', root];
// prebuildify spawns its node-gyp command with these arguments appended; a shell splits our command line.
const env = { ...process.env, PREBUILD_SHELL: process.platform === 'win32' ? 'cmd.exe' : '/bin/sh' };
const result = spawnSync(process.execPath, [...args, '--node-gyp', build.map(quote).join(' ')], {
  stdio: 'inherit',
  cwd: root,
  env,
});
if (result.status !== 0) {
  console.error('musicgen-native: prebuild failed (see above)');
  process.exit(result.status ?? 1);
}
for (const name of fs.readdirSync(out).sort()) {
  console.log(
    `  ${path.relative(root, path.join(out, name))}  ${(fs.statSync(path.join(out, name)).size / 1e6).toFixed(2)} MB`,
  );
}
