#!/usr/bin/env node
// npm run build:prebuilds: the portable prebuild for this platform, made by prebuildify into prebuilds/<platform>-<arch>/
// (musicgen-native[.<libc>].node + ggml's shared libraries and CPU-variant modules), which npm pack ships.
// prebuildify runs our CMake build through its node-gyp hook and stages in build/prebuild, so the
// development build in build/Release is left alone.
//   extra arguments are passed to build-native.js, e.g. `npm run build:prebuilds -- --cuda` (see docs/prebuilds.md);
//   `-- --arch arm64` cross-compiles prebuilds/linux-arm64/ on a linux-x64 machine (Debian's g++-aarch64-linux-gnu)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const extra = process.argv.slice(2);
const arch = extra.includes('--arch') ? extra[extra.indexOf('--arch') + 1] : process.arch;
const stage = path.join(root, 'build', arch === process.arch ? 'prebuild' : `prebuild-${arch}`);
const out = path.join(root, 'prebuilds', `${process.platform}-${arch}`);
fs.rmSync(stage, { recursive: true, force: true });
fs.mkdirSync(path.join(stage, 'build', 'Release'), { recursive: true });
fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify({ name: require('../package.json').name }));
fs.rmSync(out, { recursive: true, force: true });

const quote = (s) => `"${s.replace(/(["\\$`])/g, '\\$1')}"`;
const build = [process.execPath, path.join(root, 'scripts', 'build-native.js'), '--portable', ...extra];
build.push('--dest', path.join(stage, 'build', 'Release'));
const prebuildify = path.join(path.dirname(require.resolve('prebuildify/package.json')), 'bin.js');
// --tag-libc only on Linux: prebuildify would tag a macOS or Windows addon 'glibc' too, and lib/native.ts skips
// libc-tagged addons on platforms without one.
const libcTag = process.platform === 'linux' ? ['--tag-libc'] : [];
const args = [prebuildify, '--napi', '--strip', ...libcTag, '--arch', arch, '--cwd', stage, '--out', root];
// prebuildify spawns its node-gyp command with these arguments appended; a shell splits our command line.
const env = { ...process.env, PREBUILD_SHELL: process.platform === 'win32' ? 'cmd.exe' : '/bin/sh' };
// A cross build's binaries are stripped by the target's binutils (the host's strip does not know arm64 ELF).
if (arch === 'arm64' && process.arch !== 'arm64') env.PREBUILD_STRIP_BIN = 'aarch64-linux-gnu-strip';
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
