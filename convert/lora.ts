// PEFT LoRA adapters (as musicgen-dreamboothing saves them) merged into the base weights at conversion, before any
// quantisation: Linear W' = W + s * B @ A, Embedding W' = W + s * (B @ A)^T with s = scale * lora_alpha / r
// (lora_alpha / sqrt(r) with use_rslora); each B @ A entry is summed in float64 and rounded once, then scaled and
// added in float32, which equals peft's merge_and_unload bit for bit on the fixture adapter. Everything is
// validated before the first byte is written: the adapter's config, every tensor name, rank and shape.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConvertError } from '../lib/errors';
import type { MetadataValue } from './gguf-writer';
import { SafetensorsFile } from './safetensors';
import type { TensorPlan } from './tensor-map';
import type { TensorSource } from './tensor-source';
import { TorchZipFile } from './torch-zip';

/** One `--lora` argument: a folder or repo id and the user's scale (default 1). */
export interface LoraSpec {
  path: string;
  scale?: number;
}

interface AdaptedModule {
  /** HF module path, e.g. decoder.model.decoder.layers.0.self_attn.q_proj. */
  module: string;
  kind: 'linear' | 'embedding';
  a: string;
  b: string;
  /** This module's rank and factor: the adapter's, or rank_pattern / alpha_pattern's for this module. */
  r: number;
  factor: number;
  /** Where r comes from, for messages. */
  rFrom: string;
}

export interface LoraAdapter {
  /** The argument as given (folder or repo id), recorded in the GGUF. */
  name: string;
  dir: string;
  source: TensorSource;
  scale: number;
  r: number;
  alpha: number;
  rslora: boolean;
  /** scale * alpha / r (or / sqrt(r)), the factor applied to B @ A (modules without a pattern). */
  factor: number;
  modules: AdaptedModule[];
}

/** `path[:scale]`; the scale is split off only when what follows the last ':' is a number. */
export function parseLoraArgument(arg: string): LoraSpec {
  const colon = arg.lastIndexOf(':');
  if (colon > 0) {
    const tail = arg.slice(colon + 1);
    if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(tail)) return { path: arg.slice(0, colon), scale: Number(tail) };
  }
  return { path: arg };
}

// Leaf module names of MusicGen / MusicGen-Melody a target_modules entry may name (peft matches an entry against a
// module path by equality or as a '.'-separated suffix). audio_enc_to_dec_proj exists only in melody models and
// the cross-attention only in text models: an adapter naming them for the other variant is still well-formed.
const KNOWN_LEAVES = new Set([
  'q_proj',
  'k_proj',
  'v_proj',
  'out_proj',
  'fc1',
  'fc2',
  'lm_heads',
  'embed_tokens',
  'enc_to_dec_proj',
  'audio_enc_to_dec_proj',
  'q',
  'k',
  'v',
  'o',
  'wi',
  'wi_0',
  'wi_1',
  'wo',
  'shared',
  'relative_attention_bias',
]);

type Json = Record<string, unknown>;

function readAdapterConfig(dir: string): Json {
  const file = path.join(dir, 'adapter_config.json');
  if (!fs.existsSync(file)) throw new ConvertError('no adapter_config.json: not a PEFT adapter folder', dir);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConvertError(`not valid JSON: ${(error as Error).message}`, file, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ConvertError('expected a JSON object', file);
  return parsed as Json;
}

const isEmpty = (v: unknown) =>
  v === undefined ||
  v === null ||
  (Array.isArray(v) ? v.length === 0 : typeof v === 'object' && !Object.keys(v).length);

/** The LoraConfig fields the merge depends on; every feature it would silently get wrong is refused. */
interface LoraSettings {
  r: number;
  alpha: number;
  rslora: boolean;
  targets: unknown;
  rankPattern: Map<string, number>;
  alphaPattern: Map<string, number>;
}

function loraSettings(cfg: Json, file: string): LoraSettings {
  const fail = (key: string, expected: string): never => {
    throw new ConvertError(`${key} is ${JSON.stringify(cfg[key])}, expected ${expected}`, file);
  };
  if (cfg.peft_type !== 'LORA')
    fail('peft_type', '"LORA" (other PEFT methods such as LoHa, LoKr, IA3, AdaLoRA are not supported)');
  if (cfg.use_dora === true) fail('use_dora', 'false (DoRA adapters are not supported)');
  if (cfg.fan_in_fan_out === true) fail('fan_in_fan_out', 'false (Conv1D-style transposed weights are not supported)');
  if (cfg.bias !== undefined && cfg.bias !== 'none')
    fail('bias', '"none" (adapters that train biases are not supported)');
  if (!isEmpty(cfg.modules_to_save)) fail('modules_to_save', 'null (fully saved modules are not supported)');
  const patterns = (key: 'rank_pattern' | 'alpha_pattern', integer: boolean): Map<string, number> => {
    const v = cfg[key] ?? {};
    const ok = (x: unknown) =>
      typeof x === 'number' && (integer ? Number.isSafeInteger(x) && x >= 1 : Number.isFinite(x));
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.values(v).every(ok))
      fail(key, `an object of module patterns to ${integer ? 'integers >= 1' : 'numbers'}`);
    return new Map(Object.entries(v as Record<string, number>));
  };
  const rankPattern = patterns('rank_pattern', true);
  const alphaPattern = patterns('alpha_pattern', false);
  if (cfg.layer_replication !== undefined && cfg.layer_replication !== null)
    fail('layer_replication', 'null (layer replication is not supported)');
  const r = cfg.r;
  if (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 1) fail('r', 'an integer >= 1');
  const alpha = cfg.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) fail('lora_alpha', 'a number');
  const rslora = cfg.use_rslora ?? false;
  if (typeof rslora !== 'boolean') fail('use_rslora', 'true or false');
  return {
    r: r as number,
    alpha: alpha as number,
    rslora: rslora as boolean,
    targets: cfg.target_modules,
    rankPattern,
    alphaPattern,
  };
}

/** target_modules entries that cannot name a MusicGen module are refused (a regex string is checked per tensor). */
function checkTargets(targets: unknown, file: string): void {
  if (typeof targets === 'string' || targets === undefined || targets === null) return;
  if (!Array.isArray(targets) || !targets.every((t) => typeof t === 'string'))
    throw new ConvertError(`target_modules is ${JSON.stringify(targets)}, expected a list of module names`, file);
  for (const target of targets as string[]) {
    if (target === 'all-linear') continue;
    const parts = target.split('.');
    const leaf = /^\d+$/.test(parts[parts.length - 1]!) && parts.length > 1 ? parts[parts.length - 2]! : parts.at(-1)!;
    if (!KNOWN_LEAVES.has(leaf)) {
      throw new ConvertError(
        `target module '${target}' is not a MusicGen module the converter can merge into (known: ${[...KNOWN_LEAVES].join(', ')})`,
        file,
      );
    }
  }
}

function openAdapterWeights(dir: string): TensorSource {
  const st = path.join(dir, 'adapter_model.safetensors');
  if (fs.existsSync(st)) return new SafetensorsFile(st);
  const bin = path.join(dir, 'adapter_model.bin');
  if (fs.existsSync(bin)) return new TorchZipFile(bin);
  throw new ConvertError('no adapter_model.safetensors or adapter_model.bin', dir);
}

const loraFactor = (scale: number, alpha: number, r: number, rslora: boolean) =>
  scale * (rslora ? alpha / Math.sqrt(r) : alpha / r);

/** peft's pattern lookup: the first key k for which `.*\.k$` matches the module path (keys are regular expressions). */
function patternKey(pattern: Map<string, number>, module: string): string | undefined {
  for (const key of pattern.keys()) {
    let re: RegExp;
    try {
      re = new RegExp(`^.*\\.(?:${key})$`);
    } catch {
      re = new RegExp(`^.*\\.${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
    }
    if (re.test(module)) return key;
  }
  return pattern.has(module) ? module : undefined;
}

const TENSOR_NAME = /^base_model\.model\.(.+)\.(lora_A\.weight|lora_B\.weight|lora_embedding_A|lora_embedding_B)$/;

/** Reads and checks one adapter folder (config, tensor names, pairs and ranks); shapes are checked by bindAdapters. */
export function openLoraAdapter(dir: string, name: string, scale = 1): LoraAdapter {
  if (!Number.isFinite(scale)) throw new ConvertError(`--lora ${name}: scale ${scale} is not a finite number`);
  const configFile = path.join(dir, 'adapter_config.json');
  const settings = loraSettings(readAdapterConfig(dir), configFile);
  checkTargets(settings.targets, configFile);
  const source = openAdapterWeights(dir);
  try {
    const found = new Map<string, Partial<AdaptedModule>>();
    for (const tensor of source.names()) {
      const m = TENSOR_NAME.exec(tensor);
      if (!m) {
        throw new ConvertError(
          `tensor '${tensor}' is not a LoRA weight (expected base_model.model.<module>.lora_A.weight / lora_B.weight / lora_embedding_A / lora_embedding_B)`,
          source.file,
        );
      }
      const [, module, part] = m as unknown as [string, string, string];
      const entry = found.get(module) ?? { module };
      const kind = part.startsWith('lora_embedding') ? 'embedding' : 'linear';
      if (entry.kind && entry.kind !== kind)
        throw new ConvertError(`module '${module}' has both lora_A/B and lora_embedding_A/B tensors`, source.file);
      entry.kind = kind;
      if (part.includes('_A')) entry.a = tensor;
      else entry.b = tensor;
      found.set(module, entry);
    }
    if (found.size === 0) throw new ConvertError('holds no LoRA tensors', source.file);
    const modules: AdaptedModule[] = [];
    for (const entry of found.values()) {
      if (!entry.a || !entry.b) {
        const missing =
          entry.kind === 'embedding'
            ? entry.a
              ? 'lora_embedding_B'
              : 'lora_embedding_A'
            : entry.a
              ? 'lora_B.weight'
              : 'lora_A.weight';
        throw new ConvertError(`module '${entry.module}' has no ${missing} tensor`, source.file);
      }
      const rankKey = patternKey(settings.rankPattern, entry.module!);
      const alphaKey = patternKey(settings.alphaPattern, entry.module!);
      const r = rankKey === undefined ? settings.r : settings.rankPattern.get(rankKey)!;
      const alpha = alphaKey === undefined ? settings.alpha : settings.alphaPattern.get(alphaKey)!;
      const rFrom = rankKey === undefined ? 'r' : `rank_pattern['${rankKey}']`;
      modules.push({ ...(entry as AdaptedModule), r, rFrom, factor: loraFactor(scale, alpha, r, settings.rslora) });
    }
    const { r, alpha, rslora } = settings;
    return { name, dir, source, scale, r, alpha, rslora, factor: loraFactor(scale, alpha, r, rslora), modules };
  } catch (error) {
    source.close();
    throw error;
  }
}

/** One adapter module bound to the base tensor it changes. */
interface Delta {
  adapter: LoraAdapter;
  module: AdaptedModule;
}

/** The tensors an adapter may change: every 2-D weight the plan copies unchanged from a `<module>.weight`. */
function adaptableTensors(plans: TensorPlan[]): Map<string, TensorPlan> {
  const byModule = new Map<string, TensorPlan>();
  for (const plan of plans) {
    const hf = plan.inputs[0]!.hf;
    if (plan.build === 'copy' && plan.shape.length === 2 && hf.endsWith('.weight'))
      byModule.set(hf.slice(0, -'.weight'.length), plan);
  }
  return byModule;
}

const EMBEDDINGS = /^(t5\.token_embd|t5\.rel_bias|lm\.tok_embd\.\d+)\.weight$/;

/**
 * Maps every adapted module onto the plan's tensors and checks each A/B shape against the base weight's shape
 * (taken from the plan, i.e. from the base's config or GGUF) and the adapter's rank. Returns the deltas per GGUF
 * tensor name, in the order the adapters were given.
 */
export function bindAdapters(adapters: LoraAdapter[], plans: TensorPlan[]): Map<string, Delta[]> {
  const targets = adaptableTensors(plans);
  const deltas = new Map<string, Delta[]>();
  for (const adapter of adapters) {
    const file = adapter.source.file;
    for (const module of adapter.modules) {
      const plan = targets.get(module.module);
      if (!plan) {
        throw new ConvertError(
          `tensor '${module.a}' adapts module '${module.module}', which is not a weight matrix of this MusicGen model (adapter for another architecture or variant?)`,
          file,
        );
      }
      const embedding = EMBEDDINGS.test(plan.name);
      if (embedding !== (module.kind === 'embedding')) {
        const want = embedding ? 'lora_embedding_A/B' : 'lora_A/B.weight';
        throw new ConvertError(
          `module '${module.module}' is ${embedding ? 'an Embedding' : 'a Linear'} layer; expected ${want} tensors, got ${module.kind === 'embedding' ? 'lora_embedding_A/B' : 'lora_A/B.weight'}`,
          file,
        );
      }
      const [rows, cols] = plan.shape as [number, number];
      // Linear W [out, in]: A [r, in], B [out, r]. Embedding W [num, dim]: A [r, num], B [dim, r].
      const r = module.r;
      const expectA = embedding ? [r, rows] : [r, cols];
      const expectB = embedding ? [cols, r] : [rows, r];
      for (const [tensor, expected] of [
        [module.a, expectA],
        [module.b, expectB],
      ] as const) {
        const info = adapter.source.info(tensor)!;
        if (info.shape.length !== 2 || info.shape[0] !== expected[0] || info.shape[1] !== expected[1]) {
          throw new ConvertError(
            `tensor '${tensor}' has shape [${info.shape.join(', ')}], expected [${expected.join(', ')}] (${module.rFrom}=${r} from adapter_config.json; base weight '${plan.inputs[0]!.hf}' is [${rows}, ${cols}])`,
            info.file,
          );
        }
        if (!['F32', 'F16', 'BF16'].includes(info.dtype))
          throw new ConvertError(`tensor '${tensor}' has dtype ${info.dtype}; expected F32, F16 or BF16`, info.file);
      }
      const list = deltas.get(plan.name) ?? [];
      list.push({ adapter, module });
      deltas.set(plan.name, list);
    }
  }
  return deltas;
}

/** W (row-major [rows, cols]) + factor * L @ R with L [rows, r], R [r, cols]; each product summed in float64 and
 * rounded once to float32, then scaled and added in float32, as peft's (B @ A) * scaling + W. Four rows share each
 * load of R (1.5x faster than one row at a time; musicgen-small's r 16 dreamboothing adapter is 6.4 G multiply-adds). */
function addProduct(
  w: Float32Array,
  rows: number,
  cols: number,
  l: Float32Array,
  right: Float32Array,
  r: number,
  factor: number,
): void {
  const rt = Float64Array.from(right);
  const f = Math.fround(factor);
  const acc = [0, 1, 2, 3].map(() => new Float64Array(cols)) as [
    Float64Array,
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  const [a0, a1, a2, a3] = acc;
  for (let i = 0; i < rows; i += 4) {
    const n = Math.min(4, rows - i);
    for (const a of acc) a.fill(0);
    for (let k = 0; k < r; k++) {
      // Rows past the end multiply by 0 into accumulators that are never written back.
      const x0 = l[i * r + k]!;
      const x1 = n > 1 ? l[(i + 1) * r + k]! : 0;
      const x2 = n > 2 ? l[(i + 2) * r + k]! : 0;
      const x3 = n > 3 ? l[(i + 3) * r + k]! : 0;
      const base = k * cols;
      for (let j = 0; j < cols; j++) {
        const v = rt[base + j]!;
        a0[j] = a0[j]! + x0 * v;
        a1[j] = a1[j]! + x1 * v;
        a2[j] = a2[j]! + x2 * v;
        a3[j] = a3[j]! + x3 * v;
      }
    }
    for (let q = 0; q < n; q++) {
      const a = acc[q as 0 | 1 | 2 | 3];
      const row = (i + q) * cols;
      for (let j = 0; j < cols; j++) w[row + j] = w[row + j]! + Math.fround(Math.fround(a[j]!) * f);
    }
  }
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = m[i * cols + j]!;
  return out;
}

/** Applies every delta bound to one tensor (shape [rows, cols]) to its float32 data, in place. */
export function mergeDeltas(weight: Float32Array, shape: readonly number[], deltas: readonly Delta[]): Float32Array {
  const [rows, cols] = shape as [number, number];
  for (const { adapter, module } of deltas) {
    if (module.factor === 0) continue; // scale 0: the base weight bit for bit (0 * x could turn -0 into +0)
    const a = adapter.source.read(module.a);
    const b = adapter.source.read(module.b);
    const r = module.r;
    if (module.kind === 'linear') addProduct(weight, rows, cols, b, a, r, module.factor);
    // (B @ A)^T = A^T @ B^T: A [r, rows] -> A^T [rows, r]; B [cols, r] -> B^T [r, cols].
    else addProduct(weight, rows, cols, transpose(a, r, rows), transpose(b, cols, r), r, module.factor);
  }
  return weight;
}

/** The musicgen.lora.* lists of a GGUF base that already had adapters merged. */
export interface PreviousLora {
  names: string[];
  scales: number[];
  ranks: number[];
  factors: number[];
  modules: number[];
}

/** GGUF keys recording the merged adapters (docs/gguf-format.md "LoRA adapters"); `previous` are a GGUF base's. */
export function loraMetadata(
  adapters: LoraAdapter[],
  deltas: Map<string, Delta[]>,
  previous?: PreviousLora,
): Array<[string, MetadataValue]> {
  const p = previous ?? { names: [], scales: [], ranks: [], factors: [], modules: [] };
  const merged = (a: LoraAdapter) => [...deltas.values()].filter((list) => list.some((d) => d.adapter === a)).length;
  const names = [...p.names, ...adapters.map((a) => a.name)];
  if (names.length === 0) return [];
  return [
    ['musicgen.lora.adapters', { type: 'array', itemType: 'string', value: names }],
    ['musicgen.lora.scales', { type: 'array', itemType: 'f32', value: [...p.scales, ...adapters.map((a) => a.scale)] }],
    ['musicgen.lora.ranks', { type: 'array', itemType: 'u32', value: [...p.ranks, ...adapters.map((a) => a.r)] }],
    [
      'musicgen.lora.factors',
      { type: 'array', itemType: 'f32', value: [...p.factors, ...adapters.map((a) => a.factor)] },
    ],
    ['musicgen.lora.modules', { type: 'array', itemType: 'u32', value: [...p.modules, ...adapters.map(merged)] }],
  ];
}
