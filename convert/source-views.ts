// TensorSource views that let the converter's HF-named plan read tensors kept elsewhere: a source under other
// names (optionally a block of rows of a fused tensor, as audiocraft's in_proj_weight), a filtered source, and
// several sources joined into one.
import { ConvertError } from '../lib/errors';
import { elementCount, type SourceTensorInfo, type TensorSource } from './tensor-source';

/** Where an HF-named tensor lives in the inner source: a whole tensor, or rows [row, row + rows) of dim 0. */
export interface Rename {
  from: string;
  rows?: { start: number; count: number };
}

/** `inner` presented under the names of `renames` (HF name -> inner tensor); nothing else is visible. */
export class RenamedSource implements TensorSource {
  readonly file: string;
  private cached: { name: string; data: Float32Array } | undefined;

  constructor(
    private readonly inner: TensorSource,
    private readonly renames: Map<string, Rename>,
  ) {
    this.file = inner.file;
  }

  names(): string[] {
    return [...this.renames.keys()];
  }

  info(name: string): SourceTensorInfo | undefined {
    const r = this.renames.get(name);
    const info = r && this.inner.info(r.from);
    if (!info || !r!.rows) return info;
    return { ...info, shape: [r!.rows.count, ...info.shape.slice(1)] };
  }

  read(name: string): Float32Array {
    const r = this.renames.get(name);
    if (!r) throw new ConvertError(`no tensor '${name}'`, this.file);
    if (!r.rows) return this.inner.read(r.from);
    // q, k and v come from one fused tensor: read it once for the three.
    if (this.cached?.name !== r.from) this.cached = { name: r.from, data: this.inner.read(r.from) };
    const shape = this.inner.info(r.from)!.shape;
    const rowLength = elementCount(shape.slice(1));
    return this.cached.data.slice(r.rows.start * rowLength, (r.rows.start + r.rows.count) * rowLength);
  }

  close(): void {
    this.cached = undefined;
    this.inner.close();
  }
}

/** The tensors of `inner` whose names pass `keep`. */
export class FilteredSource implements TensorSource {
  readonly file: string;
  constructor(
    private readonly inner: TensorSource,
    private readonly keep: (name: string) => boolean,
  ) {
    this.file = inner.file;
  }
  names(): string[] {
    return this.inner.names().filter(this.keep);
  }
  info(name: string): SourceTensorInfo | undefined {
    return this.keep(name) ? this.inner.info(name) : undefined;
  }
  read(name: string): Float32Array {
    if (!this.keep(name)) throw new ConvertError(`no tensor '${name}'`, this.file);
    return this.inner.read(name);
  }
  close(): void {
    this.inner.close();
  }
}

/** Several sources as one; a name offered by two of them is an error naming both files. */
export class JoinedSource implements TensorSource {
  readonly file: string;
  private readonly owner = new Map<string, TensorSource>();

  constructor(private readonly parts: TensorSource[]) {
    this.file = parts.map((p) => p.file).join(' + ');
    for (const part of parts) {
      for (const name of part.names()) {
        const other = this.owner.get(name);
        if (other) throw new ConvertError(`tensor '${name}' is offered by both ${other.file} and ${part.file}`);
        this.owner.set(name, part);
      }
    }
  }
  names(): string[] {
    return [...this.owner.keys()];
  }
  info(name: string): SourceTensorInfo | undefined {
    return this.owner.get(name)?.info(name);
  }
  read(name: string): Float32Array {
    const part = this.owner.get(name);
    if (!part) throw new ConvertError(`no tensor '${name}'`, this.file);
    return part.read(name);
  }
  close(): void {
    for (const part of this.parts) part.close();
  }
}
