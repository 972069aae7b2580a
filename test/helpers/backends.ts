// The backends the parity tests run on: the CPU always, and the Vulkan backend when the addon has it and a Vulkan
// device is there. In CI that device is lavapipe (Debian's mesa-vulkan-drivers, a conformant Vulkan device that
// runs on the CPU), so the real Vulkan shaders run in every CI run. ggml lists CPU-type Vulkan devices only when
// GGML_VK_VISIBLE_DEVICES names them; this module sets it (to device 0) before the addon loads, so a test file
// imports it before its first call into the addon; for the same reason it points the Vulkan loader at the lavapipe
// scripts/vulkan-sdk.sh unpacked, when there is one (tools/lavapipe.ts: bookworm's own crashes now and then). Without a Vulkan build or device the Vulkan cases skip with a
// notice naming what to install, and under CI=true (.ci/run installs it) they fail instead.
// MUSICGEN_TEST_BACKENDS=cpu limits a run to the CPU on purpose (the sanitizer run: its build has no Vulkan);
// MUSICGEN_TEST_BACKENDS=cpu,cuda,vulkan adds CUDA, asked for only where a CUDA module and GPU are expected
// (scripts/gpu-check.sh): once asked, a missing CUDA device fails its cases instead of skipping them.
import type { Test } from 'tap';
import { runtimeInfo } from '../../lib/runtime';
import { lavapipeEnv } from '../../tools/lavapipe';

process.env.GGML_VK_VISIBLE_DEVICES ??= '0';
Object.assign(process.env, lavapipeEnv());

export type ParityBackend = 'cpu' | 'vulkan' | 'cuda';

/** Each backend with what to do: run it, or skip / fail with a notice. */
export function parityBackends(
  env: NodeJS.ProcessEnv = process.env,
): Array<{ backend: ParityBackend; run: true } | { backend: ParityBackend; run: false; skip?: string; fail?: string }> {
  const asked = (env.MUSICGEN_TEST_BACKENDS ?? 'cpu,vulkan').split(',').map((b) => b.trim());
  const cases: ReturnType<typeof parityBackends> = [{ backend: 'cpu', run: true }];
  if (asked.includes('cuda')) {
    const cuda = runtimeInfo().devices.some((d) => d.backend === 'CUDA');
    const why = `MUSICGEN_TEST_BACKENDS asks for cuda, but no CUDA device is usable (runtimeInfo().unavailable says why)`;
    cases.push(cuda ? { backend: 'cuda', run: true } : { backend: 'cuda', run: false, fail: why });
  }
  if (!asked.includes('vulkan')) {
    cases.push({ backend: 'vulkan', run: false, skip: 'MUSICGEN_TEST_BACKENDS leaves out vulkan' });
    return cases;
  }
  const missing = vulkanMissing();
  if (missing === undefined) cases.push({ backend: 'vulkan', run: true });
  else if (env.CI === 'true')
    cases.push({ backend: 'vulkan', run: false, fail: `${missing}; CI=true, where .ci/run installs it` });
  else cases.push({ backend: 'vulkan', run: false, skip: `${missing}; skipped` });
  return cases;
}

/** Why the Vulkan parity cases cannot run here, or undefined when they can. */
export function vulkanMissing(): string | undefined {
  const info = runtimeInfo();
  if (info.devices.some((d) => d.backend === 'Vulkan')) return undefined;
  if (info.backends.includes('Vulkan')) {
    return "the Vulkan backend found no device: the parity tests on Vulkan need Debian's mesa-vulkan-drivers (apt-get install mesa-vulkan-drivers)";
  }
  return (
    'this addon has no usable Vulkan backend: it needs glslc, libvulkan1 and mesa-vulkan-drivers (apt-get install glslc ' +
    'libvulkan1 mesa-vulkan-drivers), newer Vulkan headers (scripts/vulkan-sdk.sh) and a rebuild (npm run build:native), docs/building.md'
  );
}

/**
 * `t.test('[backend] name')` once per parity backend: run with that backend, or skipped with the notice, or failed
 * under CI=true when a backend CI must have is missing.
 */
export function eachBackend(parent: Test, name: string, fn: (t: Test, backend: ParityBackend) => Promise<void>): void {
  for (const c of parityBackends()) {
    const title = `[${c.backend}] ${name}`;
    if (c.run) void parent.test(title, (t) => fn(t, c.backend));
    else if (c.fail !== undefined) {
      const why = c.fail;
      void parent.test(title, async (t) => void t.fail(why));
    } else void parent.test(title, { skip: c.skip ?? true }, async () => {});
  }
}

/**
 * Absolute tolerances for the Vulkan cases, measured on lavapipe (mesa 22.3.6, ggml 0.15.1, 2026-12-05; the same on 25.0.7) with about
 * twice the largest measured difference as headroom. Why they are wider than the CPU's: on a device with fp16
 * support (lavapipe has it, as most GPUs do) ggml-vulkan rounds mat-mul operands to f16 — its matmul shaders keep
 * their tiles in f16, and it copies operands that are not contiguous (attention's permuted views) to f16 first
 * (ggml-vulkan.cpp ggml_vk_mul_mat_q_f16) — so every product carries f16 rounding (2^-11 relative). With
 * GGML_VK_DISABLE_F16=1 the unconditional logits agree to 2.3e-5. Measured: T5 states 2.2e-3, projected text states
 * 3.0e-3, melody prefix 2.7e-3, LM hidden states 1.5e-3; logits (magnitude ~100) 3.1e-2 conditional, 8.2e-2 guided
 * (CFG scale 3 amplifies the difference). Greedy decisions can differ only where the reference's top-1/top-2 margin is
 * within that error (lm.test.ts checks exactly that). The EnCodec decoder (on lavapipe 25.0.7): `stages` is relative
 * to each stage's largest magnitude, measured up to 1.9e-3 (the last stage); `audio` is absolute, measured 3.0e-3
 * against HF's waveforms and 3.8e-3 between a streamed and a one-shot decode (their graphs round differently) — about
 * what an f16 model gives on the CPU (2.6e-3), and far below the ~0.1 a wrong pad, trim or overlap causes.
 */
export const VULKAN_ATOL = { states: 5e-3, logits: 0.15, audio: 8e-3, stages: 4e-3 };

/**
 * CUDA's: not measured yet (no GPU has run these tests). Provisional: Vulkan's, since ggml-cuda may also round
 * mat-mul operands to f16 (its cuBLAS path for f16 weights and its f16 kernels); each case prints the difference
 * it measured, so the first run on a GPU (scripts/gpu-check.sh) gives the figures to set these from.
 */
export const CUDA_ATOL = VULKAN_ATOL;

/** The CPU's tolerance on the CPU, each GPU backend's own elsewhere. */
export function atol(backend: ParityBackend, cpu: number, kind: keyof typeof VULKAN_ATOL): number {
  if (backend === 'vulkan') return Math.max(cpu, VULKAN_ATOL[kind]);
  if (backend === 'cuda') return Math.max(cpu, CUDA_ATOL[kind]);
  return cpu;
}
