// The musicgen.* and general.* GGUF keys (docs/gguf-format.md) from the parsed Hugging Face configs.
import type { MetadataValue } from './gguf-writer';
import type { MusicgenConfig } from './hf-config';
import { FILE_TYPE, type OutputType } from './quant-policy';

const u32 = (value: number): MetadataValue => ({ type: 'u32', value });
const f32 = (value: number): MetadataValue => ({ type: 'f32', value });

export function modelMetadata(cfg: MusicgenConfig, name: string, type: OutputType): Array<[string, MetadataValue]> {
  const { t5, decoder: lm, codec, generation, melody } = cfg;
  const entries: Array<[string, MetadataValue]> = [
    ['general.architecture', { type: 'string', value: 'musicgen' }],
    ['general.name', { type: 'string', value: name }],
    ['general.file_type', u32(FILE_TYPE[type])],
    ['general.quantization_version', u32(2)],
    ['musicgen.variant', { type: 'string', value: cfg.variant }],
    ['musicgen.audio_channels', u32(lm.audioChannels)],
    ['musicgen.sample_rate', u32(codec.sampleRate)],
    ['musicgen.frame_rate', u32(codec.frameRate)],
    ['musicgen.generation.max_length', u32(generation.maxLength)],
    ['musicgen.generation.guidance_scale', f32(generation.guidanceScale)],
    ['musicgen.generation.pad_token_id', u32(generation.padTokenId)],
    ['musicgen.t5.vocab_size', u32(t5.vocabSize)],
    ['musicgen.t5.embedding_length', u32(t5.dModel)],
    ['musicgen.t5.feed_forward_length', u32(t5.dFf)],
    ['musicgen.t5.block_count', u32(t5.numLayers)],
    ['musicgen.t5.head_count', u32(t5.numHeads)],
    ['musicgen.t5.key_length', u32(t5.dKv)],
    ['musicgen.t5.relative_buckets', u32(t5.relativeBuckets)],
    ['musicgen.t5.relative_max_distance', u32(t5.relativeMaxDistance)],
    ['musicgen.t5.layer_norm_epsilon', f32(t5.layerNormEpsilon)],
    ['musicgen.t5.feed_forward_act', { type: 'string', value: t5.feedForwardAct }],
  ];
  if (melody) {
    entries.push(
      ['musicgen.melody.num_chroma', u32(melody.numChroma)],
      ['musicgen.melody.chroma_length', u32(melody.chromaLength)],
      ['musicgen.melody.n_fft', u32(melody.nFft)],
      ['musicgen.melody.hop_length', u32(melody.hopLength)],
      ['musicgen.melody.chunk_length', u32(melody.chunkLength)],
    );
  }
  entries.push(
    ['musicgen.lm.codebook_count', u32(lm.numCodebooks)],
    ['musicgen.lm.codebook_size', u32(lm.codebookSize)],
    ['musicgen.lm.embedding_length', u32(lm.hiddenSize)],
    ['musicgen.lm.feed_forward_length', u32(lm.ffnDim)],
    ['musicgen.lm.block_count', u32(lm.numLayers)],
    ['musicgen.lm.head_count', u32(lm.numHeads)],
    ['musicgen.lm.max_position', u32(lm.maxPositions)],
    // transformers' MusicGen decoder hard-codes nn.LayerNorm's default epsilon.
    ['musicgen.lm.layer_norm_epsilon', f32(1e-5)],
    ['musicgen.codec.sample_rate', u32(codec.sampleRate)],
    ['musicgen.codec.hidden_size', u32(codec.hiddenSize)],
    ['musicgen.codec.num_filters', u32(codec.numFilters)],
    ['musicgen.codec.upsampling_ratios', { type: 'array', itemType: 'u32', value: codec.upsamplingRatios }],
    ['musicgen.codec.kernel_size', u32(codec.kernelSize)],
    ['musicgen.codec.last_kernel_size', u32(codec.lastKernelSize)],
    ['musicgen.codec.residual_kernel_size', u32(codec.residualKernelSize)],
    ['musicgen.codec.num_residual_layers', u32(codec.numResidualLayers)],
    ['musicgen.codec.dilation_growth_rate', u32(codec.dilationGrowthRate)],
    ['musicgen.codec.compress', u32(codec.compress)],
    ['musicgen.codec.num_lstm_layers', u32(codec.numLstmLayers)],
    ['musicgen.codec.codebook_size', u32(codec.codebookSize)],
    ['musicgen.codec.quantizer_count', u32(codec.quantizerCount)],
    ['musicgen.codec.causal', { type: 'bool', value: codec.causal }],
    ['musicgen.codec.pad_mode', { type: 'string', value: codec.padMode }],
  );
  return entries;
}
