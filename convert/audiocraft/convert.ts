// audiocraft export folder + `--base` -> one GGUF file. The LM (and a full EnCodec export) comes from the
// checkpoint, T5 + tokenizer (and a pointed-to EnCodec) from the base; hyper-parameters from xp.cfg, cross-checked
// against the tensor shapes and the base. A GGUF base's tensors are copied byte for byte where the requested type
// stores them the same way, so converting against the GGUF of an HF folder equals converting that folder.
import { ConvertError } from '../../lib/errors';
import { openAudiocraftCodec, openAudiocraftLm, type AudiocraftCodec, type AudiocraftLm } from './checkpoint';
import type { AudiocraftCodecConfig } from './xp-config';
import { openBase, type BaseModel } from '../base-model';
import { exportDir } from '../checkpoint-layout';
import {
  buildTensor,
  encodeTensor,
  modelName,
  storageOf,
  validate,
  type ConvertOptions,
  type ConvertResult,
} from '../convert';
import { writeGguf } from '../gguf-writer';
import { resolveCheckpointDir } from '../hub/resolve';
import type { CodecConfig, MusicgenConfig } from '../hf-config';
import { modelMetadata } from '../metadata';
import { isOutputType, type OutputType } from '../quant-policy';
import { FilteredSource, JoinedSource } from '../source-views';
import { planTensors, type TensorPlan } from '../tensor-map';
import type { SourceTensorInfo, TensorSource } from '../tensor-source';

export interface AudiocraftConvertOptions extends Omit<ConvertOptions, 'type'> {
  /** HF MusicGen folder or converted GGUF providing T5 + tokenizer (and EnCodec for the pointer form). */
  base: string;
  /** Default: the base GGUF's type, else f16. */
  type?: OutputType;
}

const POSITIONS = 'decoder.model.decoder.embed_positions.weights';
const DEC = 'decoder.model.decoder';

/** The GGUF tensors taken from the base (T5, a pointed-to codec, the position table when it fits). */
function fromBase(name: string, codecFromBase: boolean): boolean {
  return name.startsWith('t5.') || (codecFromBase && name.startsWith('codec.')) || name === 'lm.pos_embd.weight';
}

/** The CodecConfig a full EnCodec export describes (its xp.cfg), in the HF field names. */
function codecConfigOf(c: AudiocraftCodecConfig): CodecConfig {
  return {
    sampleRate: c.sampleRate,
    audioChannels: c.channels,
    hiddenSize: c.dimension,
    numFilters: c.nFilters,
    upsamplingRatios: c.ratios,
    kernelSize: c.kernelSize,
    lastKernelSize: c.lastKernelSize,
    residualKernelSize: c.residualKernelSize,
    numResidualLayers: c.nResidualLayers,
    dilationGrowthRate: c.dilationBase,
    compress: c.compress,
    numLstmLayers: c.lstm,
    codebookSize: c.bins,
    quantizerCount: c.nQ,
    frameRate: Math.ceil(c.sampleRate / c.ratios.reduce((a, b) => a * b, 1)),
    causal: c.causal,
    padMode: c.padMode,
  };
}

/** xp.cfg's sizes against the tensors that hold them; a mismatch names both. */
function crossCheckShapes(lm: AudiocraftLm): void {
  const c = lm.config;
  const s = lm.source;
  const fail = (what: string, tensor: string, info: SourceTensorInfo | undefined, expected: number[]): never => {
    throw new ConvertError(
      `xp.cfg ${what} but tensor '${tensor}' has shape ${info ? `[${info.shape.join(', ')}]` : '(missing)'}, expected [${expected.join(', ')}]`,
      lm.file,
    );
  };
  const check = (hf: string, ac: string, expected: number[], what: string) => {
    const info = s.info(hf);
    if (!info || info.shape.length !== expected.length || info.shape.some((n, i) => n !== expected[i]))
      fail(what, ac, info, expected);
  };
  const dims = `transformer_lm.dim=${c.dim}`;
  check(
    `${DEC}.embed_tokens.0.weight`,
    'emb.0.weight',
    [c.codebookSize + 1, c.dim],
    `transformer_lm.card=${c.codebookSize}, ${dims}`,
  );
  check(
    `${DEC}.layers.0.fc1.weight`,
    'transformer.layers.0.linear1.weight',
    [c.ffnDim, c.dim],
    `int(transformer_lm.hidden_scale*dim)=${c.ffnDim}, ${dims}`,
  );
  check(
    `${DEC}.layers.0.self_attn.q_proj.weight`,
    'transformer.layers.0.self_attn.in_proj_weight (rows 0..dim)',
    [c.dim, c.dim],
    dims,
  );
  const count = (re: RegExp) => new Set(s.names().flatMap((n) => re.exec(n)?.[1] ?? [])).size;
  const layers = count(/^decoder\.model\.decoder\.layers\.(\d+)\./);
  if (layers !== c.numLayers)
    throw new ConvertError(
      `xp.cfg transformer_lm.num_layers=${c.numLayers} but best_state holds ${layers} transformer layers`,
      lm.file,
    );
  const codebooks = count(/^decoder\.model\.decoder\.embed_tokens\.(\d+)\./);
  if (codebooks !== c.numCodebooks)
    throw new ConvertError(
      `xp.cfg transformer_lm.n_q=${c.numCodebooks} but best_state holds ${codebooks} code embeddings (emb.K)`,
      lm.file,
    );
}

/** The model config: LM from xp.cfg, T5 (and a pointed-to codec) from the base; every pairing checked. */
function modelConfig(lm: AudiocraftLm, codec: AudiocraftCodec, base: BaseModel): MusicgenConfig {
  const c = lm.config;
  const b = base.config;
  const baseName = `--base ${base.path}`;
  const codecConfig = codec.kind === 'full' ? codecConfigOf(codec.config) : b.codec;
  const codecFrom = codec.kind === 'full' ? codec.file : baseName;
  const mismatch = (what: string, lmValue: unknown, codecWhat: string, codecValue: unknown): never => {
    throw new ConvertError(
      `xp.cfg ${what}=${JSON.stringify(lmValue)} does not fit the EnCodec of ${codecFrom} (${codecWhat}=${JSON.stringify(codecValue)}): ${codec.kind === 'full' ? 'not the codec this LM was trained with?' : 'base of another codec?'}`,
      lm.file,
    );
  };
  if (codecConfig.audioChannels !== 1)
    mismatch(
      'channels',
      c.channels,
      'audio channels (MusicGen codes each channel with a mono EnCodec)',
      codecConfig.audioChannels,
    );
  if (codecConfig.sampleRate !== c.sampleRate)
    mismatch('sample_rate', c.sampleRate, 'sample rate', codecConfig.sampleRate);
  if (codecConfig.codebookSize !== c.codebookSize)
    mismatch('transformer_lm.card', c.codebookSize, 'codebook size', codecConfig.codebookSize);
  if (codecConfig.quantizerCount * c.channels !== c.numCodebooks)
    mismatch(`transformer_lm.n_q (channels ${c.channels})`, c.numCodebooks, 'quantizers', codecConfig.quantizerCount);

  // The text projection's input width is the T5's (xp.cfg names t5-base even for other widths: read the shape).
  const proj = lm.source.info('enc_to_dec_proj.weight');
  if (!proj)
    throw new ConvertError(
      `best_state has no 'condition_provider.conditioners.description.output_proj.weight'`,
      lm.file,
    );
  if (proj.shape[1] !== b.t5.dModel)
    throw new ConvertError(
      `tensor 'condition_provider.conditioners.description.output_proj.weight' has shape [${proj.shape.join(', ')}]: its input width ${proj.shape[1]} is not the T5 width of ${baseName} (d_model ${b.t5.dModel}); base of another text encoder?`,
      lm.file,
    );

  let melody: MusicgenConfig['melody'];
  if (c.melody) {
    const hopLength = c.melody.nFft / 4; // audiocraft ChromaExtractor: winhop = n_fft // 4
    const chunkLength = c.segmentDuration ?? 30;
    melody = b.melody
      ? { ...b.melody }
      : {
          numChroma: c.melody.numChroma,
          chromaLength: Math.ceil((chunkLength * c.sampleRate) / hopLength),
          nFft: c.melody.nFft,
          hopLength,
          chunkLength,
        };
    if (melody.numChroma !== c.melody.numChroma || melody.nFft !== c.melody.nFft)
      throw new ConvertError(
        `xp.cfg conditioners.self_wav.chroma_stem n_chroma=${c.melody.numChroma}, n_fft=2^radix2_exp=${c.melody.nFft} but ${baseName} has num_chroma ${melody.numChroma}, n_fft ${melody.nFft}`,
        lm.file,
      );
  }

  return {
    variant: c.variant,
    t5: b.t5,
    decoder: {
      numCodebooks: c.numCodebooks,
      codebookSize: c.codebookSize,
      hiddenSize: c.dim,
      ffnDim: c.ffnDim,
      numLayers: c.numLayers,
      numHeads: c.numHeads,
      maxPositions: b.decoder.maxPositions,
      audioChannels: c.channels,
    },
    codec: codecConfig,
    melody,
    generation: {
      maxLength: b.generation.maxLength,
      guidanceScale: c.guidanceScale ?? b.generation.guidanceScale,
      padTokenId: c.codebookSize,
    },
  };
}

/**
 * MusicgenSinusoidalPositionalEmbedding, for a fine-tune whose width differs from the base's: float32 steps as
 * torch takes them (cos/sin from libm may differ from torch's in the last bit).
 */
class SinusoidalPositions implements TensorSource {
  readonly file = '(computed sinusoidal position table)';
  constructor(
    private readonly rows: number,
    private readonly width: number,
  ) {}
  names(): string[] {
    return [POSITIONS];
  }
  info(name: string): SourceTensorInfo | undefined {
    return name === POSITIONS ? { dtype: 'F32', shape: [this.rows, this.width], file: this.file } : undefined;
  }
  read(): Float32Array {
    const half = Math.floor(this.width / 2);
    const step = Math.fround(-Math.log(10000) / (half - 1));
    const freq = Array.from({ length: half }, (_, i) => Math.fround(Math.exp(Math.fround(i * step))));
    const out = new Float32Array(this.rows * this.width);
    for (let p = 0; p < this.rows; p++) {
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(p * freq[i]!);
        out[p * this.width + i] = Math.cos(angle);
        out[p * this.width + half + i] = Math.sin(angle);
      }
    }
    return out;
  }
  close(): void {}
}

export async function convertAudiocraft(
  dir: string,
  out: string,
  options: AudiocraftConvertOptions,
): Promise<ConvertResult & { type: OutputType }> {
  if (options.type !== undefined && !isOutputType(options.type))
    throw new ConvertError(`unknown type '${String(options.type)}' (expected f32, f16, q8_0, q4_0 or q4_k)`);
  dir = exportDir(await resolveCheckpointDir(dir, options.hub));
  const lm = openAudiocraftLm(dir);
  const toClose: Array<{ close(): void }> = [lm.source];
  try {
    const codec = openAudiocraftCodec(dir);
    if (codec.kind === 'full') toClose.push(codec.source);
    if (!options.base) {
      const missing =
        codec.kind === 'full' ? 'the T5 text encoder and tokenizer' : 'the T5 text encoder, tokenizer and EnCodec';
      throw new ConvertError(
        `an audiocraft checkpoint holds the LM only; ${missing} come from --base <converted .gguf or HF MusicGen folder>`,
        dir,
      );
    }
    if (lm.unmapped.length)
      throw new ConvertError(
        `best_state holds tensors with no place in a MusicGen model: ${lm.unmapped.slice(0, 5).join(', ')}${lm.unmapped.length > 5 ? ', ...' : ''}`,
        lm.file,
      );
    if (codec.kind === 'full' && codec.unmapped.length)
      throw new ConvertError(
        `best_state holds tensors that are not EnCodec's: ${codec.unmapped.slice(0, 5).join(', ')}`,
        codec.file,
      );
    crossCheckShapes(lm);
    const base = await openBase(options.base, { tokenizerDir: options.tokenizerDir, hub: options.hub });
    toClose.push(base.kind === 'hf' ? base.source : base.reader);
    const config = modelConfig(lm, codec, base);
    const type = options.type ?? (base.kind === 'gguf' ? base.fileType : 'f16');
    const codecFromBase = codec.kind !== 'full';
    const positionsShape = [config.decoder.maxPositions, config.decoder.hiddenSize];

    // The tensors each part provides, in HF names.
    const parts: TensorSource[] = [lm.source];
    if (codec.kind === 'full') parts.push(codec.source);
    let positionsFromBase = false;
    if (base.kind === 'hf') {
      const info = base.source.info(POSITIONS);
      positionsFromBase = !!info && info.shape.join() === positionsShape.join();
      parts.push(
        new FilteredSource(
          base.source,
          (n) =>
            n.startsWith('text_encoder.') ||
            (codecFromBase && n.startsWith('audio_encoder.')) ||
            (positionsFromBase && n === POSITIONS),
        ),
      );
    } else {
      const entry = base.reader.tensors.get('lm.pos_embd.weight');
      positionsFromBase = !!entry && entry.dims.join() === [...positionsShape].reverse().join();
    }
    if (!positionsFromBase) parts.push(new SinusoidalPositions(positionsShape[0]!, positionsShape[1]!));
    const source = new JoinedSource(parts);

    const copied = (plan: TensorPlan) =>
      base.kind === 'gguf' &&
      fromBase(plan.name, codecFromBase) &&
      (plan.name !== 'lm.pos_embd.weight' || positionsFromBase);
    const plans = planTensors(config, (name) => source.info(name) !== undefined);
    validate(
      source,
      plans.filter((p) => !copied(p)),
    );
    const { stored: storedTypes, infos } = storageOf(plans, type);

    // A GGUF base's tensors: same dims as planned, and either stored as wanted or exactly readable (f32/f16).
    if (base.kind === 'gguf') {
      plans.forEach((plan, i) => {
        if (!copied(plan)) return;
        const entry = base.reader.tensors.get(plan.name);
        const dims = [...plan.shape].reverse();
        if (!entry) throw new ConvertError(`--base GGUF has no tensor '${plan.name}'`, base.path);
        if (entry.dims.join() !== dims.join())
          throw new ConvertError(
            `--base GGUF tensor '${plan.name}' has dims [${entry.dims.join(', ')}], expected [${dims.join(', ')}]`,
            base.path,
          );
        if (entry.type !== storedTypes[i] && entry.type !== 'f32' && entry.type !== 'f16')
          throw new ConvertError(
            `--base GGUF stores '${plan.name}' as ${entry.type}, which --type ${type} stores as ${storedTypes[i]}; a quantised tensor cannot be re-encoded exactly (use --type ${base.fileType}, or an f16/f32 base)`,
            base.path,
          );
      });
    }

    const metadata = [...modelMetadata(config, options.name ?? modelName(dir), type), ...base.tokenizer];
    const bytes = await writeGguf(out, metadata, infos, async (i) => {
      await new Promise((resolve) => setImmediate(resolve));
      const plan = plans[i]!;
      const stored = storedTypes[i]!;
      const rowLength = plan.shape[plan.shape.length - 1]!;
      let data: Uint8Array;
      if (base.kind === 'gguf' && copied(plan)) {
        const entry = base.reader.tensors.get(plan.name)!;
        data =
          entry.type === stored
            ? base.reader.readRaw(plan.name)
            : encodeTensor(base.reader.readFloat32(plan.name), stored, rowLength);
      } else {
        data = encodeTensor(buildTensor(source, plan), stored, rowLength);
      }
      options.onProgress?.(i + 1, plans.length, plan.name);
      return data;
    });
    return { tensors: plans.length, bytes, type };
  } finally {
    for (const c of toClose) c.close();
  }
}
