// runtimeInfo(): which native addon this process loaded and what ggml offers through it; the first thing to
// look at when a GPU is not used or an install behaves unexpectedly.
import type { BinaryTarget } from './binary-target';
import { nativeRuntime } from './native';

export type { BinaryTarget } from './binary-target';

export interface RuntimeInfo {
  /** The musicgen.node file in use (a prebuild under prebuilds/, or a source build under build/). */
  addon: string;
  /** 'portable': a prebuild whose ggml backends are modules chosen at load time; 'native': a self-contained build. */
  build: 'portable' | 'native';
  /**
   * What the loaded addon was built for, read from its file header: e.g. `{ platform: 'linux', arch: 'arm64',
   * libc: 'glibc' }` for the linux-arm64 prebuild (libc only on Linux).
   */
  binary: BinaryTarget;
  ggmlVersion: string;
  /** ggml backends registered, e.g. ['CPU'] or ['CUDA', 'CPU']. */
  backends: string[];
  /** Instruction-set features the CPU backend was built for, e.g. ['SSE3', 'AVX', 'AVX2', 'FMA']. */
  cpuFeatures: string[];
  /**
   * The kernels of the LM's per-step weight products on the CPU backend: 'avx512' (AVX-512 with VNNI), 'avx2',
   * 'scalar' (portable C++), or 'ggml' (ggml's own products). The best this CPU runs unless the environment variable
   * MUSICGEN_CPU_KERNELS names one (an unknown name, or a set this CPU lacks, fails the addon's load).
   */
  cpuKernels: 'avx512' | 'avx2' | 'scalar' | 'ggml';
  /** GPU backend modules that were found but could not be used, and why (also emitted as a process warning). */
  unavailable: Array<{ path: string; reason: string }>;
  /**
   * Every compute device found, e.g. `{ name: 'Vulkan0', description: 'NVIDIA H200', backend: 'Vulkan', type: 'gpu' }`,
   * with `autoSkip` saying why `backend: 'auto'` would pass one over (a software Vulkan device such as lavapipe).
   */
  devices: RuntimeDevice[];
}

export interface RuntimeDevice {
  /** ggml's device name: 'CPU', 'CUDA0', 'Vulkan0', 'MTL0'. */
  name: string;
  description: string;
  /** ggml backend: 'CPU', 'CUDA', 'Vulkan', 'MTL'. */
  backend: string;
  /** 'gpu' (discrete), 'igpu' (integrated), 'cpu', 'accel'. */
  type: string;
  /** Device memory in bytes as the driver reports it (0 where it does not). */
  memoryTotal: number;
  autoSkip?: string;
}

/** Loads the addon if needed and describes it. Throws ERR_MUSICGEN_ADDON_NOT_FOUND like every other call. */
export function runtimeInfo(): RuntimeInfo {
  const runtime = nativeRuntime();
  return {
    addon: runtime.file,
    build: runtime.dynamic ? 'portable' : 'native',
    binary: { ...runtime.target },
    ggmlVersion: runtime.ggmlVersion,
    backends: runtime.registered,
    cpuFeatures: runtime.cpuFeatures,
    cpuKernels: runtime.cpuKernels,
    unavailable: runtime.failed,
    devices: runtime.devices.map((d) => ({ ...d })),
  };
}
