// Hugging Face MusicGen folder -> one GGUF file (docs/gguf-format.md). Validates every input before writing,
// then streams one tensor at a time into an atomically renamed output file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConvertError } from '../lib/errors';
import { native } from '../lib/native';
import { isAudiocraftDir, isGgufFile } from './checkpoint-layout';
import { baseMetadata, configFromGguf, ggufFileType, planGgufBase } from './gguf-base';
import { GgufReader } from './gguf-reader';
import { writeGguf, type GgufTensorInfo, type MetadataValue } from './gguf-writer';
import { readMusicgenConfig } from './hf-config';
import { parseSnapshotDir } from './hub/cache';
import { resolveCheckpointDir, type HubOptions } from './hub/resolve';
import { bindAdapters, loraMetadata, mergeDeltas, openLoraAdapter, type LoraAdapter, type LoraSpec } from './lora';
import { modelMetadata } from './metadata';
import { GGML_TYPES, isOutputType, storageType, tensorBytes, type OutputType } from './quant-policy';
import { ShardedSafetensors, SafetensorsFile } from './safetensors';
import { isIgnoredTensor, planTensors, type SourceRef, type TensorPlan } from './tensor-map';
import { elementCount, isFloatDType, type TensorSource } from './tensor-source';
import { findTokenizerDir, tokenizerMetadata } from './tokenizer-metadata';
import { TorchZipFile } from './torch-zip';
import { foldWeightNorm } from './weight-norm';

export interface ConvertOptions {
  /** Requested storage type (default f16); see the quantisation policy in docs/gguf-format.md. */
  type?: OutputType;
  /** Folder holding spiece.model / tokenizer_config.json; default: the checkpoint folder, else its parent. */
  tokenizerDir?: string;
  /** PEFT LoRA adapters (folder or repo id, scale default 1) merged into the weights before quantisation. */
  loras?: LoraSpec[];
  onProgress?: (done: number, total: number, tensor: string) => void;
  /** When the base or an adapter is a Hugging Face repo id (`owner/name`, not an existing path): how to fetch it
   *  (token, endpoint, cache...; `revision` applies to the base only, adapters are fetched at main). */
  hub?: HubOptions;
  /** general.name in the GGUF; default: the repo's name for a hub snapshot, else the folder's name. */
  name?: string;
}

export interface ConvertResult {
  /** The storage type requested (a GGUF base's own when none was given). */
  type: OutputType;
  tensors: number;
  bytes: number;
}

/** Opens the checkpoint's weights: model.safetensors, model.safetensors.index.json or pytorch_model.bin. */
export function openWeights(dir: string): TensorSource {
  const single = path.join(dir, 'model.safetensors');
  if (fs.existsSync(single)) return new SafetensorsFile(single);
  const index = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(index)) return new ShardedSafetensors(index);
  const bin = path.join(dir, 'pytorch_model.bin');
  if (fs.existsSync(bin)) return new TorchZipFile(bin);
  throw new ConvertError('no model.safetensors, model.safetensors.index.json or pytorch_model.bin', dir);
}

function checkInput(source: TensorSource, plan: TensorPlan, ref: SourceRef): void {
  const info = source.info(ref.hf);
  if (!info)
    throw new ConvertError(`tensor '${ref.hf}' is missing (needed for GGUF tensor '${plan.name}')`, source.file);
  const expected = ref.shape.map((d) => d.size);
  if (info.shape.length !== expected.length || info.shape.some((n, i) => n !== expected[i])) {
    const reasons = ref.shape.filter((d, i) => d.from && info.shape[i] !== d.size).map((d) => `${d.from}=${d.size}`);
    const why = reasons.length ? ` (from config.json ${[...new Set(reasons)].join(', ')})` : '';
    throw new ConvertError(
      `tensor '${ref.hf}' has shape [${info.shape.join(', ')}], expected [${expected.join(', ')}]${why}`,
      info.file,
    );
  }
  if (!isFloatDType(info.dtype)) {
    throw new ConvertError(
      `tensor '${ref.hf}' has dtype ${info.dtype}; only F32, F16 and BF16 weights can be converted`,
      info.file,
    );
  }
}

/** Every needed tensor present with the configured shape and a float dtype; nothing unexplained left over. */
export function validate(source: TensorSource, plans: TensorPlan[]): void {
  const used = new Set<string>();
  for (const plan of plans) {
    for (const ref of plan.inputs) {
      checkInput(source, plan, ref);
      used.add(ref.hf);
    }
  }
  for (const name of source.names()) {
    if (!used.has(name) && !isIgnoredTensor(name)) {
      throw new ConvertError(
        `unexpected tensor '${name}': not part of the MusicGen model config.json describes (wrong config or unsupported variant)`,
        source.file,
      );
    }
  }
}

export function buildTensor(source: TensorSource, plan: TensorPlan): Float32Array {
  if (plan.build === 'copy') return source.read(plan.inputs[0]!.hf);
  const [g, v] = plan.inputs as [SourceRef, SourceRef];
  return foldWeightNorm(source.read(g.hf), source.read(v.hf), plan.shape, v.hf);
}

export function encodeTensor(data: Float32Array, type: OutputType, rowLength: number): Uint8Array {
  if (type === 'f32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return native().quantize(type, data, rowLength);
}

/** Each planned tensor's storage type for the requested type, and its GGUF tensor info. */
export function storageOf(plans: TensorPlan[], type: OutputType): { stored: OutputType[]; infos: GgufTensorInfo[] } {
  const stored = plans.map((plan) => storageType(plan.role, type, plan.shape[plan.shape.length - 1]!));
  const infos = plans.map((plan, i) => ({
    name: plan.name,
    dims: [...plan.shape].reverse(),
    ggmlType: GGML_TYPES[stored[i]!].id,
    bytes: tensorBytes(stored[i]!, elementCount(plan.shape), plan.shape[plan.shape.length - 1]!),
  }));
  return { stored, infos };
}

/** general.name: a hub snapshot (<cache>/models--owner--name/snapshots/<commit>) is named after its repo, else the folder. */
export function modelName(dir: string): string {
  return parseSnapshotDir(dir)?.repo.split('/')[1] ?? path.basename(path.resolve(dir));
}

async function openAdapters(specs: LoraSpec[], hub: HubOptions = {}): Promise<LoraAdapter[]> {
  const adapters: LoraAdapter[] = [];
  try {
    for (const spec of specs) {
      const dir = await resolveCheckpointDir(spec.path, { ...hub, revision: undefined });
      adapters.push(openLoraAdapter(dir, spec.path, spec.scale ?? 1));
    }
    return adapters;
  } catch (error) {
    for (const a of adapters) a.source.close();
    throw error;
  }
}

/**
 * Converts a checkpoint folder (or a converted GGUF, or a repo id once hub downloads are merged) into one GGUF file,
 * merging `options.loras` into the weights first.
 */
export async function convertCheckpoint(
  base: string,
  out: string,
  options: ConvertOptions = {},
): Promise<ConvertResult> {
  if (options.type !== undefined && !isOutputType(options.type))
    throw new ConvertError(`unknown type '${String(options.type)}' (expected f32, f16, q8_0, q4_0 or q4_k)`);
  const dir = await resolveCheckpointDir(base, options.hub);
  if (isAudiocraftDir(dir))
    throw new ConvertError(
      'is an audiocraft export (state_dict.bin, no config.json): convert it with convertAudiocraft(dir, out, { base }) or musicgen-convert --base',
      dir,
    );
  const adapters = await openAdapters(options.loras ?? [], options.hub);
  try {
    if (isGgufFile(dir)) return await convertGgufBase(dir, out, adapters, options);
    return await convertFolder(dir, out, adapters, options);
  } finally {
    for (const a of adapters) a.source.close();
  }
}

async function convertFolder(
  dir: string,
  out: string,
  adapters: LoraAdapter[],
  options: ConvertOptions,
): Promise<ConvertResult> {
  const type = options.type ?? 'f16';
  const config = readMusicgenConfig(dir);
  const tokenizer = tokenizerMetadata(findTokenizerDir(dir, options.tokenizerDir), config.t5.vocabSize);
  const source = openWeights(dir);
  try {
    const plans = planTensors(config, (name) => source.info(name) !== undefined);
    validate(source, plans);
    const deltas = bindAdapters(adapters, plans);
    const { stored: storedTypes, infos } = storageOf(plans, type);
    const metadata = [
      ...modelMetadata(config, options.name ?? modelName(dir), type),
      ...tokenizer,
      ...loraMetadata(adapters, deltas),
    ];
    const bytes = await writeGguf(out, metadata, infos, async (i) => {
      // Yield between tensors so SIGINT/SIGTERM handlers (see cli.ts) can run during a long conversion.
      await new Promise((resolve) => setImmediate(resolve));
      const plan = plans[i]!;
      const weights = buildTensor(source, plan);
      const merged = deltas.has(plan.name) ? mergeDeltas(weights, plan.shape, deltas.get(plan.name)!) : weights;
      const data = encodeTensor(merged, storedTypes[i]!, plan.shape[plan.shape.length - 1]!);
      options.onProgress?.(i + 1, plans.length, plan.name);
      return data;
    });
    return { type, tensors: plans.length, bytes };
  } finally {
    source.close();
  }
}

/** A converted GGUF as the base: same plan, tensors re-encoded only where the type changes or an adapter merges. */
async function convertGgufBase(
  file: string,
  out: string,
  adapters: LoraAdapter[],
  options: ConvertOptions,
): Promise<ConvertResult> {
  if (options.tokenizerDir !== undefined)
    throw new ConvertError('--tokenizer-dir does not apply to a GGUF base (its tokenizer is in the file)', file);
  const reader = new GgufReader(file);
  try {
    const type = options.type ?? ggufFileType(reader);
    const plans = planGgufBase(reader, configFromGguf(reader));
    const deltas = bindAdapters(adapters, plans);
    const { stored, infos } = storageOf(plans, type);
    // Everything decided before writing: a tensor that must be re-encoded or merged needs exact (f32/f16) weights.
    plans.forEach((plan, i) => {
      const has = reader.tensors.get(plan.name)!.type;
      if ((has === stored[i] && !deltas.has(plan.name)) || has === 'f32' || has === 'f16') return;
      const why = deltas.has(plan.name)
        ? 'a LoRA adapter must be merged before quantisation'
        : `re-encoding it as ${stored[i]} would quantise twice`;
      throw new ConvertError(
        `tensor '${plan.name}' is stored as ${has}; ${why} (convert from the checkpoint folder, or from an f32/f16 GGUF)`,
        file,
      );
    });
    const { entries, previous } = baseMetadata(reader, type);
    const metadata: Array<[string, MetadataValue]> = [...entries, ...loraMetadata(adapters, deltas, previous)];
    const bytes = await writeGguf(out, metadata, infos, async (i) => {
      await new Promise((resolve) => setImmediate(resolve));
      const plan = plans[i]!;
      const list = deltas.get(plan.name);
      let data: Uint8Array;
      if (!list && reader.tensors.get(plan.name)!.type === stored[i]) data = reader.readRaw(plan.name);
      else {
        const weights = reader.readFloat32(plan.name);
        data = encodeTensor(list ? mergeDeltas(weights, plan.shape, list) : weights, stored[i]!, plan.shape.at(-1)!);
      }
      options.onProgress?.(i + 1, plans.length, plan.name);
      return data;
    });
    return { type, tensors: plans.length, bytes };
  } finally {
    reader.close();
  }
}
