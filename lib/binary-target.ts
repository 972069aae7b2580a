// Which platform, architecture and C library a native binary was built for, read from the file itself (ELF, Mach-O
// or PE header; for ELF, the C library its dynamic section names as NEEDED). runtimeInfo() reports it for the addon
// that was loaded, so a prebuild picked for the wrong machine, or a stray build/ from another one, shows plainly.

import * as fs from 'node:fs';

export interface BinaryTarget {
  /** Node's names: 'linux', 'darwin', 'win32'. */
  platform: 'linux' | 'darwin' | 'win32';
  /** Node's names: 'x64', 'arm64', 'ia32', 'arm', or the header's machine number for others ('machine-243'). */
  arch: string;
  /** The C library an ELF binary links: 'glibc' (libc.so.6), 'musl' (libc.musl-*.so.1); undefined elsewhere. */
  libc?: 'glibc' | 'musl';
}

const ELF_MACHINES: Record<number, string> = { 3: 'ia32', 40: 'arm', 62: 'x64', 183: 'arm64' };
const PE_MACHINES: Record<number, string> = { 0x14c: 'ia32', 0x1c4: 'arm', 0x8664: 'x64', 0xaa64: 'arm64' };
const MACHO_CPUS: Record<number, string> = { 7: 'ia32', 12: 'arm', 0x01000007: 'x64', 0x0100000c: 'arm64' };

/** Reads `file`'s header; throws an Error naming the file when it is no ELF, Mach-O or PE binary. */
export function binaryTarget(file: string): BinaryTarget {
  const data = fs.readFileSync(file);
  const bad = (why: string): never => {
    throw new Error(`${file}: ${why}`);
  };
  if (data.length >= 20 && data.readUInt32BE(0) === 0x7f454c46) return elfTarget(data, bad);
  const magic = data.length >= 8 ? data.readUInt32LE(0) : 0;
  if (magic === 0xfeedfacf || magic === 0xfeedface) {
    const cpu = data.readInt32LE(4);
    return { platform: 'darwin', arch: MACHO_CPUS[cpu] ?? `machine-${cpu}` };
  }
  if (data.length >= 64 && data.toString('latin1', 0, 2) === 'MZ') {
    const pe = data.readUInt32LE(0x3c);
    if (pe + 6 > data.length || data.toString('latin1', pe, pe + 4) !== 'PE\0\0') bad('MZ header without a PE header');
    const machine = data.readUInt16LE(pe + 4);
    return { platform: 'win32', arch: PE_MACHINES[machine] ?? `machine-${machine}` };
  }
  return bad('not an ELF, Mach-O or PE binary');
}

// ELF: e_machine for the architecture; the C library from the DT_NEEDED entries of the PT_DYNAMIC segment, whose
// names sit in the string table DT_STRTAB points at (a virtual address, mapped to the file through PT_LOAD).
function elfTarget(data: Buffer, bad: (why: string) => never): BinaryTarget {
  const is64 = data[4] === 2;
  const little = data[5] === 1;
  if (!little) bad('big-endian ELF');
  const u16 = (at: number) => data.readUInt16LE(at);
  const u32 = (at: number) => data.readUInt32LE(at);
  const word = (at: number) => (is64 ? Number(data.readBigUInt64LE(at)) : u32(at));
  const machine = u16(18);
  const arch = ELF_MACHINES[machine] ?? `machine-${machine}`;
  const phoff = word(is64 ? 32 : 28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  if (phoff + phnum * phentsize > data.length) bad('truncated ELF program headers');
  const segments = Array.from({ length: phnum }, (_, i) => {
    const at = phoff + i * phentsize;
    return is64
      ? { type: u32(at), offset: word(at + 8), vaddr: word(at + 16), filesz: word(at + 32) }
      : { type: u32(at), offset: u32(at + 4), vaddr: u32(at + 8), filesz: u32(at + 16) };
  });
  const dynamic = segments.find((s) => s.type === 2);
  if (!dynamic) return { platform: 'linux', arch }; // statically linked: no C library to name
  const entry = is64 ? 16 : 8;
  const needed: number[] = [];
  let strtab: number | undefined;
  for (let at = dynamic.offset; at + entry <= Math.min(dynamic.offset + dynamic.filesz, data.length); at += entry) {
    const tag = word(at);
    const value = word(at + entry / 2);
    if (tag === 0) break;
    if (tag === 1) needed.push(value);
    if (tag === 5) strtab = value;
  }
  const load = segments.find(
    (s) => s.type === 1 && strtab !== undefined && strtab >= s.vaddr && strtab < s.vaddr + s.filesz,
  );
  if (strtab === undefined || !load) bad('ELF dynamic section without a loadable string table');
  const strings = load.offset + (strtab - load.vaddr);
  const names = needed.map((offset) => {
    const start = strings + offset;
    const end = data.indexOf(0, start);
    return data.toString('latin1', start, end < 0 ? data.length : end);
  });
  const libc = names.some((n) => /^libc\.musl-.*\.so\.1$/.test(n) || n === 'libc.so')
    ? 'musl'
    : names.includes('libc.so.6')
      ? 'glibc'
      : undefined;
  return libc ? { platform: 'linux', arch, libc } : { platform: 'linux', arch };
}
