// Errors from the addon carry a string `code`; this turns them into the package's typed errors at the
// one place each facade function awaits native work.
import { ModelError, MusicGenError, type MusicGenErrorCode } from './errors';

const MODEL_CODES: readonly string[] = ['ERR_MUSICGEN_MODEL_INVALID', 'ERR_MUSICGEN_MODEL_NOT_FOUND'];

/** MusicGenError (ModelError naming `file` for model-file problems) for coded native errors; others unchanged. */
export function fromNative(error: unknown, file?: string): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (!(error instanceof Error) || typeof code !== 'string' || !code.startsWith('ERR_MUSICGEN_')) return error;
  if (file !== undefined && MODEL_CODES.includes(code)) {
    return new ModelError(code as 'ERR_MUSICGEN_MODEL_INVALID' | 'ERR_MUSICGEN_MODEL_NOT_FOUND', file, error.message);
  }
  return new MusicGenError(code as MusicGenErrorCode, error.message, { cause: error });
}
