// An audiocraft export folder (what audiocraft.utils.export writes and fine-tunes ship): `state_dict.bin` =
// {best_state, xp.cfg, version, exported} holding the LM, and `compression_state_dict.bin`, either a pointer
// {'pretrained': 'facebook/encodec_32khz'} or a full EnCodec export. Both are read through the non-executing
// unpickler and presented under Hugging Face tensor names, so the HF tensor plan (tensor-map.ts) applies as is.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConvertError } from '../../lib/errors';
import { AUDIOCRAFT_LM_FILE as LM_FILE } from '../checkpoint-layout';
import {
  readCodecConfig,
  readLmConfig,
  XpConfig,
  type AudiocraftCodecConfig,
  type AudiocraftLmConfig,
} from './xp-config';
import { isTensor, type PickleValue, type TorchTensorRef } from '../pickle';
import { RenamedSource, type Rename } from '../source-views';
import type { TensorSource } from '../tensor-source';
import { TorchZipFile } from '../torch-zip';

export const CODEC_FILE = 'compression_state_dict.bin';

/** The chroma extractor's STFT window: a buffer audiocraft saves, which the HF layout (and our runtime) computes. */
const CHROMA_WINDOW = 'condition_provider.conditioners.self_wav.chroma.spec.window';

export interface AudiocraftLm {
  file: string;
  config: AudiocraftLmConfig;
  /** The LM's tensors under HF names (decoder.*, enc_to_dec_proj.*, audio_enc_to_dec_proj.*). */
  source: TensorSource;
  /** best_state keys that map to no HF tensor (refused by the converter, named in the error). */
  unmapped: string[];
  version: string | undefined;
}

export type AudiocraftCodec =
  | { kind: 'absent' }
  | { kind: 'pointer'; file: string; pretrained: string }
  | { kind: 'full'; file: string; config: AudiocraftCodecConfig; source: TensorSource; unmapped: string[] };

interface Export {
  tensors: Map<string, TorchTensorRef>;
  xp: XpConfig;
  version: string | undefined;
}

/** Checks the export's top-level dict and returns best_state's tensors and the parsed xp.cfg. */
function readExport(root: PickleValue, file: string, what: string): Export {
  if (!(root instanceof Map)) throw new ConvertError(`${what}: the pickle is not a dict`, file);
  const all = [...root.keys()].filter((k): k is string => typeof k === 'string');
  // A raw state dict has thousands of keys: name a few.
  const keys = all.length > 8 ? [...all.slice(0, 8), `... (${all.length} in all)`] : all;
  const has = (k: string) => root.has(k) && root.get(k) !== null;
  if (has('fsdp_best_state'))
    throw new ConvertError(
      `${what}: holds 'fsdp_best_state' (an FSDP-sharded training checkpoint); export it first with audiocraft.utils.export.export_lm (top-level keys: ${keys.join(', ')})`,
      file,
    );
  if (has('model') || has('optimizer') || !has('best_state')) {
    const why = has('best_state') ? 'a training checkpoint' : "no 'best_state'";
    throw new ConvertError(
      `${what}: ${why} (top-level keys: ${keys.join(', ') || 'none'}); expected an audiocraft export {best_state, xp.cfg} — export a training checkpoint first with audiocraft.utils.export.export_lm`,
      file,
    );
  }
  const best = root.get('best_state')!;
  if (!(best instanceof Map)) throw new ConvertError(`${what}: 'best_state' is not a dict`, file);
  if (best.get('model') instanceof Map)
    throw new ConvertError(
      `${what}: 'best_state' nests a 'model' dict (a training checkpoint's best state); export it first with audiocraft.utils.export.export_lm`,
      file,
    );
  const tensors = new Map<string, TorchTensorRef>();
  for (const [key, value] of best) {
    if (typeof key !== 'string' || !isTensor(value))
      throw new ConvertError(`${what}: 'best_state' entry ${JSON.stringify(String(key))} is not a tensor`, file);
    tensors.set(key, value);
  }
  const cfg = root.get('xp.cfg');
  if (typeof cfg !== 'string')
    throw new ConvertError(
      `${what}: 'xp.cfg' is ${cfg === undefined ? 'missing' : 'not a YAML string'}; the hyper-parameters cannot be read`,
      file,
    );
  const version = root.get('version');
  return { tensors, xp: new XpConfig(cfg, file), version: typeof version === 'string' ? version : undefined };
}

/** Opens the archive, keeping the export's root for readExport; a refused pickle gets the export hint. */
function openArchive(file: string): { zip: TorchZipFile; root: PickleValue } {
  if (!fs.existsSync(file)) throw new ConvertError('file not found', file);
  const seen: { root: PickleValue } = { root: null };
  try {
    const zip = new TorchZipFile(file, (r) => {
      seen.root = r;
      const best = r instanceof Map ? r.get('best_state') : undefined;
      const tensors = new Map<string, TorchTensorRef>();
      if (best instanceof Map) for (const [k, v] of best) if (typeof k === 'string' && isTensor(v)) tensors.set(k, v);
      return tensors;
    });
    return { zip, root: seen.root };
  } catch (error) {
    if (error instanceof ConvertError && /references global|uses opcode/.test(error.message))
      throw new ConvertError(
        `${error.message.slice(file.length + 2)}; an audiocraft export holds only tensors and strings (a training checkpoint must be exported first with audiocraft.utils.export.export_lm)`,
        file,
        { cause: error },
      );
    throw error;
  }
}

const LAYER = /^transformer\.layers\.(\d+)\.(.+)$/;
const NORMS: Record<string, string> = {
  norm1: 'self_attn_layer_norm',
  norm2: 'final_layer_norm',
  norm_cross: 'encoder_attn_layer_norm',
};

/** audiocraft LM name -> HF name(s); undefined when it has none. */
function lmRenames(name: string, shape: number[]): Array<[string, Rename]> | undefined {
  const dec = 'decoder.model.decoder';
  let m: RegExpExecArray | null;
  if ((m = /^emb\.(\d+)\.weight$/.exec(name))) return [[`${dec}.embed_tokens.${m[1]}.weight`, { from: name }]];
  if ((m = /^linears\.(\d+)\.weight$/.exec(name))) return [[`decoder.lm_heads.${m[1]}.weight`, { from: name }]];
  if ((m = /^out_norm\.(weight|bias)$/.exec(name))) return [[`${dec}.layer_norm.${m[1]}`, { from: name }]];
  if ((m = /^condition_provider\.conditioners\.description\.output_proj\.(weight|bias)$/.exec(name)))
    return [[`enc_to_dec_proj.${m[1]}`, { from: name }]];
  if ((m = /^condition_provider\.conditioners\.self_wav\.output_proj\.(weight|bias)$/.exec(name)))
    return [[`audio_enc_to_dec_proj.${m[1]}`, { from: name }]];
  if (!(m = LAYER.exec(name))) return undefined;
  const layer = `${dec}.layers.${m[1]}`;
  const rest = m[2]!;
  if ((m = /^(self_attn|cross_attention)\.in_proj_weight$/.exec(rest))) {
    // cat([q, k, v], dim 0): each third is one projection (audiocraft slices it the same way).
    const rows = shape[0] ?? 0;
    if (shape.length !== 2 || rows % 3 !== 0) return undefined;
    const attn = m[1] === 'self_attn' ? 'self_attn' : 'encoder_attn';
    return (['q', 'k', 'v'] as const).map((x, i) => [
      `${layer}.${attn}.${x}_proj.weight`,
      { from: name, rows: { start: (i * rows) / 3, count: rows / 3 } },
    ]);
  }
  if ((m = /^(self_attn|cross_attention)\.out_proj\.weight$/.exec(rest)))
    return [[`${layer}.${m[1] === 'self_attn' ? 'self_attn' : 'encoder_attn'}.out_proj.weight`, { from: name }]];
  if ((m = /^linear([12])\.weight$/.exec(rest))) return [[`${layer}.fc${m[1]}.weight`, { from: name }]];
  if ((m = /^(norm1|norm2|norm_cross)\.(weight|bias)$/.exec(rest)))
    return [[`${layer}.${NORMS[m[1]!]}.${m[2]}`, { from: name }]];
  return undefined;
}

/** The chroma window buffer must be the periodic Hann window of n_fft samples the runtime computes itself. */
function checkChromaWindow(zip: TorchZipFile, config: AudiocraftLmConfig): void {
  const info = zip.info(CHROMA_WINDOW)!;
  if (!config.melody) throw new ConvertError(`'${CHROMA_WINDOW}' in a text-only model`, zip.file);
  const n = config.melody.nFft;
  if (info.shape.length !== 1 || info.shape[0] !== n)
    throw new ConvertError(
      `'${CHROMA_WINDOW}' has shape [${info.shape.join(', ')}], expected [${n}] (xp.cfg 2^radix2_exp)`,
      zip.file,
    );
  const w = zip.read(CHROMA_WINDOW);
  // Saved in the checkpoint's dtype: allow that dtype's rounding (values lie in [0, 1]).
  const tolerance = { F32: 1e-6, F16: 2 ** -11, BF16: 2 ** -8 }[info.dtype as 'F32' | 'F16' | 'BF16'] ?? 1e-6;
  let worst = 0;
  for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(w[i]! - (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n))));
  if (worst > tolerance)
    throw new ConvertError(
      `'${CHROMA_WINDOW}' is not the periodic Hann window the chroma extractor uses (max difference ${worst.toExponential(2)})`,
      zip.file,
    );
}

/** Reads `dir`/state_dict.bin: the LM under HF names and its xp.cfg. */
export function openAudiocraftLm(dir: string): AudiocraftLm {
  const file = path.join(dir, LM_FILE);
  const { zip, root } = openArchive(file);
  try {
    const exp = readExport(root, file, LM_FILE);
    const config = readLmConfig(exp.xp);
    const renames = new Map<string, Rename>();
    const unmapped: string[] = [];
    for (const name of zip.names()) {
      if (name === CHROMA_WINDOW) {
        checkChromaWindow(zip, config);
        continue;
      }
      const mapped = lmRenames(name, zip.info(name)!.shape);
      if (!mapped) unmapped.push(name);
      for (const [hf, r] of mapped ?? []) renames.set(hf, r);
    }
    return { file, config, source: new RenamedSource(zip, renames), unmapped, version: exp.version };
  } catch (error) {
    zip.close();
    throw error;
  }
}

/** SEANet / RVQ name (audiocraft EncodecModel) -> HF audio_encoder name. */
function codecRename(name: string): string | undefined {
  let m: RegExpExecArray | null;
  if (
    (m =
      /^(encoder|decoder)\.model\.(\d+)\.(?:block\.(\d+)\.)?(?:conv\.conv|convtr\.convtr)\.(bias|weight_g|weight_v)$/.exec(
        name,
      ))
  )
    return `audio_encoder.${m[1]}.layers.${m[2]}.${m[3] === undefined ? '' : `block.${m[3]}.`}conv.${m[4]}`;
  if ((m = /^(encoder|decoder)\.model\.(\d+)\.lstm\.((?:weight|bias)_(?:ih|hh)_l\d+)$/.exec(name)))
    return `audio_encoder.${m[1]}.layers.${m[2]}.lstm.${m[3]}`;
  if ((m = /^quantizer\.vq\.layers\.(\d+)\._codebook\.(inited|cluster_size|embed|embed_avg)$/.exec(name)))
    return `audio_encoder.quantizer.layers.${m[1]}.codebook.${m[2]}`;
  return undefined;
}

/** Reads `dir`/compression_state_dict.bin: absent, a pretrained pointer, or a full EnCodec export. */
export function openAudiocraftCodec(dir: string): AudiocraftCodec {
  const file = path.join(dir, CODEC_FILE);
  if (!fs.existsSync(file)) return { kind: 'absent' };
  const { zip, root } = openArchive(file);
  try {
    if (root instanceof Map && typeof root.get('pretrained') === 'string' && !root.has('best_state')) {
      zip.close();
      return { kind: 'pointer', file, pretrained: root.get('pretrained') as string };
    }
    const exp = readExport(root, file, CODEC_FILE);
    const config = readCodecConfig(exp.xp);
    const renames = new Map<string, Rename>();
    const unmapped: string[] = [];
    for (const name of zip.names()) {
      const hf = codecRename(name);
      if (hf) renames.set(hf, { from: name });
      else unmapped.push(name);
    }
    return { kind: 'full', file, config, source: new RenamedSource(zip, renames), unmapped };
  } catch (error) {
    zip.close();
    throw error;
  }
}
