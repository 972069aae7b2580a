// Public API of musicgen-native.
export { MusicGen, BACKENDS } from './musicgen';
export type { Backend, LoadOptions, ModelInfo, ModelHyperParameters, ModelInspection, TensorInfo } from './musicgen';
export { MusicGenError, ModelError, ConvertError } from './errors';
export type { MusicGenErrorCode } from './errors';
