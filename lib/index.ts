// Public API of musicgen-native.
export { MusicGen, BACKENDS, KV_CACHE_TYPES } from './musicgen';
export type {
  Backend,
  KvCacheType,
  GenerationResult,
  LoadOptions,
  ModelInfo,
  ModelHyperParameters,
  ModelInspection,
  TensorInfo,
} from './musicgen';
export type { GenerateOptions, GenerateProgress } from './generate';
export type { CodeMatrix } from './decode-codes';
export { toReadable, toWebStream, DEFAULT_CHUNK_FRAMES } from './stream';
export type { AudioChunk, AudioStream, StreamOptions } from './stream';
export type { EncodedText } from './encode-text';
export { toWav, writeWav } from './wav';
export { WavFileWriter } from './wav-writer';
export { defaultModelPath } from './default-model';
export { runtimeInfo } from './runtime';
export type { BinaryTarget, RuntimeInfo, RuntimeDevice } from './runtime';
export type { AudioData, WavOptions } from './wav';
export { MusicGenError, ModelError, ConvertError, MemoryBudgetError } from './errors';
export type { MusicGenErrorCode } from './errors';
// Conversion, and Hugging Face Hub repo ids for it (docs/converter.md, "Hub downloads").
export { HubError } from './errors';
export type { HubErrorReason } from './errors';
export { convertCheckpoint } from '../convert/convert';
export type { ConvertOptions, ConvertResult } from '../convert/convert';
export { convertAudiocraft } from '../convert/audiocraft/convert';
export type { AudiocraftConvertOptions } from '../convert/audiocraft/convert';
export { resolveCheckpointDir, downloadCheckpoint } from '../convert/hub/resolve';
export type { HubOptions, HubProgress, CheckpointDownload } from '../convert/hub/resolve';
