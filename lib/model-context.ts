// The per-model context every request works through: the native handle (gone after dispose()), the model's frozen
// info, its memory budget, the signal dispose() aborts, and the registry of running jobs dispose() ends. One per
// MusicGen instance (no module-level state); tests and tools that hold a bare native handle make one with
// contextOf().
import { MusicGenError } from './errors';
import { defaultMemoryBudget } from './memory-budget';
import type { NativeModel, NativeModelInfo } from './native';

export interface ModelContext {
  /** What the model is (read once at load, frozen). */
  readonly info: Readonly<NativeModelInfo>;
  /** Bytes one request may allocate unless it gives its own memoryBudget. */
  readonly memoryBudget: number;
  /** Aborted by dispose() with ERR_MUSICGEN_DISPOSED. */
  readonly disposal: AbortSignal;
  /** The native model; throws ERR_MUSICGEN_DISPOSED after dispose(). */
  handle(): NativeModel;
  /** Registers cancel(error) to run on dispose(); returns the unregister function. */
  track(cancel: (error: MusicGenError) => void): () => void;
}

/** The context of a loaded native model, and dispose(), which ends every job tracked by it and frees the model. */
export function createModelContext(
  model: NativeModel,
  memoryBudget: number,
): { context: ModelContext; dispose(): void } {
  let handle: NativeModel | undefined = model;
  const info = Object.freeze(model.info());
  const disposal = new AbortController();
  const jobs = new Set<(error: MusicGenError) => void>();
  const context: ModelContext = {
    info,
    memoryBudget,
    disposal: disposal.signal,
    handle() {
      if (!handle) throw new MusicGenError('ERR_MUSICGEN_DISPOSED', 'This MusicGen model has been disposed');
      return handle;
    },
    track(cancel) {
      jobs.add(cancel);
      return () => jobs.delete(cancel);
    },
  };
  const dispose = () => {
    const disposed = new MusicGenError('ERR_MUSICGEN_DISPOSED', 'This MusicGen model has been disposed');
    for (const cancel of [...jobs]) cancel(disposed);
    if (!disposal.signal.aborted) disposal.abort(disposed);
    handle?.dispose();
    handle = undefined;
  };
  return { context, dispose };
}

/** A context for a bare native handle (tests, tools): never disposed through it, default memory budget. */
export function contextOf(model: NativeModel, memoryBudget = defaultMemoryBudget()): ModelContext {
  return createModelContext(model, memoryBudget).context;
}

/** A context as is, or one for a bare native handle (internal entry points that tests and tools call directly). */
export function asContext(model: ModelContext | NativeModel): ModelContext {
  return 'track' in model ? model : contextOf(model);
}
