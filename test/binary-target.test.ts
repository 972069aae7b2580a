// runtimeInfo().binary and the loader's list of prebuilt platforms: what the loaded addon was built for, read from
// its header (lib/binary-target.ts), must be this process's platform and architecture (also under emulation, where
// the arm64 prebuild runs: docs/prebuilds.md), other binaries must read as what they are, and non-binaries fail.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { binaryTarget } from '../lib/binary-target';
import { prebuiltPlatforms } from '../lib/native';
import { runtimeInfo } from '../lib/runtime';

const root = path.join(__dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-binary-target-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

t.test('runtimeInfo().binary: the loaded addon was built for this platform, architecture and C library', async (t) => {
  const info = runtimeInfo();
  const expected = process.platform === 'linux' ? { platform: 'linux', arch: process.arch, libc: 'glibc' } : {};
  if (process.platform !== 'linux') Object.assign(expected, { platform: process.platform, arch: process.arch });
  t.same(info.binary, expected, info.addon);
  t.same(binaryTarget(info.addon), info.binary);
});

t.test(
  'the node binary running this test reads as this platform',
  { skip: process.platform !== 'linux' },
  async (t) => {
    t.same(binaryTarget(process.execPath), { platform: 'linux', arch: process.arch, libc: 'glibc' });
  },
);

t.test('every prebuild in prebuilds/ is built for the folder it sits in', async (t) => {
  const dir = path.join(root, 'prebuilds');
  const folders = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  if (folders.length === 0) t.comment('no prebuilds/ here (npm run build:prebuilds makes them)');
  for (const folder of folders) {
    for (const file of fs.readdirSync(path.join(dir, folder)).filter((f) => f.endsWith('.node'))) {
      const target = binaryTarget(path.join(dir, folder, file));
      t.equal(`${target.platform}-${target.arch}`, folder, `${folder}/${file}`);
      const tag = file.split('.').find((part) => part === 'glibc' || part === 'musl');
      t.equal(target.libc, tag, `${folder}/${file}: libc tag`);
    }
  }
});

t.test('PE and Mach-O headers name their platform and machine', async (t) => {
  const pe = Buffer.alloc(256);
  pe.write('MZ', 0, 'latin1');
  pe.writeUInt32LE(0x80, 0x3c);
  pe.write('PE\0\0', 0x80, 'latin1');
  pe.writeUInt16LE(0xaa64, 0x84);
  fs.writeFileSync(path.join(tmp, 'a.dll'), pe);
  t.same(binaryTarget(path.join(tmp, 'a.dll')), { platform: 'win32', arch: 'arm64' });
  pe.writeUInt16LE(0x8664, 0x84);
  fs.writeFileSync(path.join(tmp, 'b.dll'), pe);
  t.same(binaryTarget(path.join(tmp, 'b.dll')), { platform: 'win32', arch: 'x64' });
  const macho = Buffer.alloc(64);
  macho.writeUInt32LE(0xfeedfacf, 0);
  macho.writeInt32LE(0x0100000c, 4);
  fs.writeFileSync(path.join(tmp, 'c.dylib'), macho);
  t.same(binaryTarget(path.join(tmp, 'c.dylib')), { platform: 'darwin', arch: 'arm64' });
});

t.test('files that are no binary, or a cut-off one, fail naming the file', async (t) => {
  const text = path.join(tmp, 'text.node');
  fs.writeFileSync(text, 'not a shared library');
  t.throws(() => binaryTarget(text), { message: `${text}: not an ELF, Mach-O or PE binary` });
  const cut = path.join(tmp, 'cut.node');
  fs.writeFileSync(cut, fs.readFileSync(runtimeInfo().addon).subarray(0, 64));
  t.throws(() => binaryTarget(cut), { message: new RegExp(`^${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `) });
  const mz = path.join(tmp, 'mz.exe');
  fs.writeFileSync(mz, Buffer.concat([Buffer.from('MZ'), Buffer.alloc(126)]));
  t.throws(() => binaryTarget(mz), { message: `${mz}: MZ header without a PE header` });
});

t.test('prebuiltPlatforms lists the folders with an addon, tagged with their libc', async (t) => {
  const pkg = path.join(tmp, 'package');
  t.same(prebuiltPlatforms(pkg), [], 'no prebuilds/ folder');
  const add = (folder: string, file: string) => {
    fs.mkdirSync(path.join(pkg, 'prebuilds', folder), { recursive: true });
    fs.writeFileSync(path.join(pkg, 'prebuilds', folder, file), '');
  };
  add('linux-x64', 'musicgen-native.glibc.node');
  add('linux-x64', 'musicgen-native.musl.node');
  add('linux-arm64', 'musicgen-native.glibc.node');
  add('linux-arm64', 'libggml.so.0');
  add('win32-x64', 'musicgen-native.node');
  add('darwin-arm64', 'libggml.dylib'); // no addon: not a prebuilt platform
  t.same(prebuiltPlatforms(pkg), ['linux-arm64 (glibc)', 'linux-x64 (glibc, musl)', 'win32-x64']);
});
