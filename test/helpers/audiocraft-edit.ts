// Builds damaged or altered audiocraft exports for refusal tests: the fixture's torch.save archive read back
// entry by entry (stored entries, as torch writes them), its xp.cfg string replaced inside data.pkl, and small
// hand-written pickles (dicts of strings, a disallowed global) for the container shapes a converter must refuse.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { zipArchive } from '../../tools/fuzz/seeds';

/** Every entry of a zip archive with stored (uncompressed) entries, in central-directory order. */
export function readZipEntries(file: string): Array<[string, Buffer]> {
  const zip = fs.readFileSync(file);
  let eocd = zip.length - 22;
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error(`${file}: not a zip archive`);
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const entries: Array<[string, Buffer]> = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt16LE(p + 10) !== 0) throw new Error(`${file}: entry ${i} is compressed`);
    const size = zip.readUInt32LE(p + 24);
    const nameLength = zip.readUInt16LE(p + 28);
    const name = zip.toString('utf8', p + 46, p + 46 + nameLength);
    const local = zip.readUInt32LE(p + 42);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    entries.push([name, zip.subarray(start, start + size)]);
    p += 46 + nameLength + zip.readUInt16LE(p + 30) + zip.readUInt16LE(p + 32);
  }
  return entries;
}

/** A copy of the export folder `src` in `dst` whose `state_dict.bin` entries went through `edit` (name, bytes). */
export function copyExport(src: string, dst: string, edit: (name: string, data: Buffer) => Buffer): void {
  fs.mkdirSync(dst, { recursive: true });
  for (const name of fs.readdirSync(src)) fs.copyFileSync(path.join(src, name), path.join(dst, name));
  const file = path.join(dst, 'state_dict.bin');
  const entries = readZipEntries(file).map(([name, data]): [string, Buffer] => [name, edit(name, data)]);
  fs.writeFileSync(file, zipArchive(entries, false));
}

/** A copy of the export folder `src` in `dst` with `state_dict.bin`'s xp.cfg passed through `edit`. */
export function copyWithXpCfg(src: string, dst: string, edit: (yaml: string) => string): void {
  copyExport(src, dst, (name, data) => {
    if (!name.endsWith('/data.pkl')) return data;
    // The YAML is the one long BINUNICODE ('X' + u32 length) string holding top-level keys and transformer_lm.
    for (let at = 0; at + 5 < data.length; at++) {
      if (data[at] !== 0x58) continue;
      const length = data.readUInt32LE(at + 1);
      if (length < 200 || at + 5 + length > data.length) continue;
      const yaml = data.toString('utf8', at + 5, at + 5 + length);
      if (!/^[a-z_]+: /m.test(yaml) || !yaml.includes('transformer_lm')) continue;
      const replaced = Buffer.from(edit(yaml), 'utf8');
      const header = Buffer.alloc(5);
      header[0] = 0x58;
      header.writeUInt32LE(replaced.length, 1);
      return Buffer.concat([data.subarray(0, at), header, replaced, data.subarray(at + 5 + length)]);
    }
    throw new Error(`${src}: no xp.cfg string in ${name}`);
  });
}

/** Replaces a string of the pickle by another of the same length (a key renamed in place). */
export function renameKey(src: string, dst: string, from: string, to: string): void {
  if (Buffer.byteLength(from) !== Buffer.byteLength(to)) throw new Error('renameKey keeps lengths');
  copyExport(src, dst, (name, data) => {
    if (!name.endsWith('/data.pkl')) return data;
    const at = data.indexOf(Buffer.from(from));
    if (at < 0) throw new Error(`${src}: no '${from}' in ${name}`);
    const out = Buffer.from(data);
    out.write(to, at, 'utf8');
    return out;
  });
}

type Plain = string | null | boolean | { [key: string]: Plain } | { global: [string, string] };

/** Pickle protocol 2 of nested dicts of strings / None / bools; `{global}` emits a GLOBAL (never resolved here). */
export function pickleOf(value: Plain): Buffer {
  const chunks: Buffer[] = [Buffer.from([0x80, 0x02])];
  const emit = (v: Plain): void => {
    if (v === null) chunks.push(Buffer.from('N'));
    else if (typeof v === 'boolean') chunks.push(Buffer.from([v ? 0x88 : 0x89]));
    else if (typeof v === 'string') {
      const b = Buffer.from(v, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      chunks.push(Buffer.from('X'), len, b);
    } else if ('global' in v && Array.isArray(v.global)) {
      chunks.push(Buffer.from(`c${v.global[0]}\n${v.global[1]}\n`));
    } else {
      chunks.push(Buffer.from('}('));
      for (const [k, item] of Object.entries(v)) {
        emit(k);
        emit(item as Plain);
      }
      chunks.push(Buffer.from('u'));
    }
  };
  emit(value);
  chunks.push(Buffer.from('.'));
  return Buffer.concat(chunks);
}

/** A torch.save-shaped archive `<stem>/data.pkl` (+ version) holding `pickle`. */
export function writeTorchArchive(file: string, pickle: Buffer): void {
  const stem = path.basename(file).replace(/\.[^.]*$/, '');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    zipArchive(
      [
        [`${stem}/data.pkl`, pickle],
        [`${stem}/version`, Buffer.from('3\n')],
      ],
      false,
    ),
  );
}
