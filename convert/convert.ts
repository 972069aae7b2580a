// Hugging Face MusicGen folder -> one GGUF file (docs/gguf-format.md). Validates every input before writing,
// then streams one tensor at a time into an atomically renamed output file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConvertError } from '../lib/errors';
import { native } from '../lib/native';
import { isAudiocraftDir } from './audiocraft-checkpoint';
import { writeGguf, type GgufTensorInfo } from './gguf-writer';
import { readMusicgenConfig } from './hf-config';
import { modelMetadata } from './metadata';
import { parseSnapshotDir } from './hub/cache';
import { resolveCheckpointDir, type HubOptions } from './hub/resolve';
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
  onProgress?: (done: number, total: number, tensor: string) => void;
  /** When `dir` is a Hugging Face repo id (`owner/name`, not an existing path): how to fetch it (revision, token...). */
  hub?: HubOptions;
  /** general.name in the GGUF; default: the repo's name for a hub snapshot, else the folder's name. */
  name?: string;
}

export interface ConvertResult {
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

/** general.name: a hub snapshot (<cache>/models--owner--name/snapshots/<commit>) is named after its repo, else the folder. */
export function modelName(dir: string): string {
  return parseSnapshotDir(dir)?.repo.split('/')[1] ?? path.basename(path.resolve(dir));
}

/** Converts a MusicGen checkpoint folder — or a hub repo id, fetched first (options.hub) — into one GGUF file. */
export async function convertCheckpoint(
  dir: string,
  out: string,
  options: ConvertOptions = {},
): Promise<ConvertResult> {
  const type = options.type ?? 'f16';
  if (!isOutputType(type))
    throw new ConvertError(`unknown type '${String(type)}' (expected f32, f16, q8_0, q4_0 or q4_k)`);
  dir = await resolveCheckpointDir(dir, options.hub);
  if (isAudiocraftDir(dir))
    throw new ConvertError(
      'is an audiocraft export (state_dict.bin, no config.json): convert it with convertAudiocraft(dir, out, { base }) or musicgen-convert --base',
      dir,
    );
  const config = readMusicgenConfig(dir);
  const tokenizer = tokenizerMetadata(findTokenizerDir(dir, options.tokenizerDir), config.t5.vocabSize);
  const source = openWeights(dir);
  try {
    const plans = planTensors(config, (name) => source.info(name) !== undefined);
    validate(source, plans);
    const infos: GgufTensorInfo[] = plans.map((plan) => {
      const rowLength = plan.shape[plan.shape.length - 1]!;
      const stored = storageType(plan.role, type, rowLength);
      return {
        name: plan.name,
        dims: [...plan.shape].reverse(),
        ggmlType: GGML_TYPES[stored].id,
        bytes: tensorBytes(stored, elementCount(plan.shape), rowLength),
      };
    });
    const storedTypes = plans.map((plan) => storageType(plan.role, type, plan.shape[plan.shape.length - 1]!));
    const metadata = [...modelMetadata(config, options.name ?? modelName(dir), type), ...tokenizer];
    const bytes = await writeGguf(out, metadata, infos, async (i) => {
      // Yield between tensors so SIGINT/SIGTERM handlers (see cli.ts) can run during a long conversion.
      await new Promise((resolve) => setImmediate(resolve));
      const plan = plans[i]!;
      const data = encodeTensor(buildTensor(source, plan), storedTypes[i]!, plan.shape[plan.shape.length - 1]!);
      options.onProgress?.(i + 1, plans.length, plan.name);
      return data;
    });
    return { tensors: plans.length, bytes };
  } finally {
    source.close();
  }
}
