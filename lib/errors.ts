/** Every error musicgen-native throws on purpose is a MusicGenError with a stable `code`. */
export type MusicGenErrorCode =
  | 'ERR_MUSICGEN_ADDON_NOT_FOUND'
  | 'ERR_MUSICGEN_INVALID_OPTION'
  | 'ERR_MUSICGEN_MODEL_INVALID'
  | 'ERR_MUSICGEN_MODEL_NOT_FOUND'
  | 'ERR_MUSICGEN_CONVERT'
  | 'ERR_MUSICGEN_DISPOSED'
  | 'ERR_MUSICGEN_ABORTED'
  | 'ERR_MUSICGEN_BACKEND'
  | 'ERR_MUSICGEN_MEMORY_BUDGET';

export class MusicGenError extends Error {
  readonly code: MusicGenErrorCode;
  constructor(code: MusicGenErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MusicGenError';
    this.code = code;
  }
}

/** A checkpoint could not be converted; `file` names the offending input when there is one. */
export class ConvertError extends MusicGenError {
  readonly file: string | undefined;
  constructor(message: string, file?: string, options?: { cause?: unknown }) {
    super('ERR_MUSICGEN_CONVERT', file ? `${file}: ${message}` : message, options);
    this.name = 'ConvertError';
    this.file = file;
  }
}

/** Why a Hugging Face Hub download failed (docs/converter.md, "Hub downloads"). */
export type HubErrorReason =
  | 'repo-not-found'
  | 'revision-not-found'
  | 'file-not-found'
  | 'unauthorized'
  | 'not-musicgen'
  | 'network'
  | 'checksum'
  | 'disk'
  | 'offline'
  | 'protocol';

/** A checkpoint could not be fetched from the Hugging Face Hub (or a mirror / the cache); `reason` says why. */
export class HubError extends ConvertError {
  readonly reason: HubErrorReason;
  /** The repo id (`owner/name`) asked for. */
  readonly repo: string;
  constructor(reason: HubErrorReason, repo: string, message: string, options?: { cause?: unknown }) {
    super(message, repo, options);
    this.name = 'HubError';
    this.reason = reason;
    this.repo = repo;
  }
}

/** A model file failed validation (missing tensor, wrong shape, bad offsets, other architecture...). */
export class ModelError extends MusicGenError {
  readonly file: string;
  constructor(code: 'ERR_MUSICGEN_MODEL_INVALID' | 'ERR_MUSICGEN_MODEL_NOT_FOUND', file: string, message: string) {
    super(code, `${file}: ${message}`);
    this.name = 'ModelError';
    this.file = file;
  }
}

/** A request whose estimated memory exceeds the budget (docs/bad-input.md#memory-budget); refused before any work. */
export class MemoryBudgetError extends MusicGenError {
  /** Estimated peak bytes of the request. */
  readonly needed: number;
  /** The budget it was checked against, in bytes. */
  readonly budget: number;
  constructor(message: string, needed: number, budget: number) {
    super('ERR_MUSICGEN_MEMORY_BUDGET', message);
    this.name = 'MemoryBudgetError';
    this.needed = needed;
    this.budget = budget;
  }
}
