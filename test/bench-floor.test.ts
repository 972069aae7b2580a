// The bench's floor measurements (native/bench/lm-floor.h) on each backend: the device copy bandwidth is measured
// from a copy that ran (the native side reads the copied values back and throws otherwise: a GPU backend once
// skipped the copy node and reported terabytes per second from an empty graph), device memory is listed per
// device, and bad arguments are refused.
import t from 'tap';
import { defaultModelPath } from '../lib/default-model';
import { native } from '../lib/native';
import { nativeDiagnostics } from '../lib/native-diagnostics';
import { runtimeInfo } from '../lib/runtime';
import { eachBackend } from './helpers/backends';

eachBackend(t, 'the device copy bandwidth is measured on the model’s device', async (t, backend) => {
  const model = await native().loadModel(defaultModelPath(), { backend, threads: 2 });
  t.teardown(() => model.dispose());
  const bytesPerSec = await nativeDiagnostics().benchDeviceCopyBandwidth(model, 16, 3);
  // A copy of 32 MiB (16 read + 16 written) cannot take less than a microsecond on any memory that exists today
  // (32 TB/s), nor more than a few seconds on lavapipe.
  t.ok(bytesPerSec > 1e7 && bytesPerSec < 3.2e13, `${(bytesPerSec / 1e9).toFixed(2)} GB/s`);
  t.throws(() => void nativeDiagnostics().benchDeviceCopyBandwidth(model, 0, 3), { code: 'ERR_INVALID_ARG_VALUE' });
});

t.test('device memory lists every device, free within total', async (t) => {
  const devices = nativeDiagnostics().benchDeviceMemory();
  t.ok(
    devices.some((d) => d.name === 'CPU'),
    'the CPU is listed',
  );
  for (const d of devices) t.ok(d.free >= 0 && d.free <= d.total, `${d.name}: ${d.free} of ${d.total} bytes free`);
});

t.test('the CPU multiply-add peak is measured for both arithmetics, and bad arguments are refused', async (t) => {
  const bench = nativeDiagnostics();
  // ggml's CPU backend lists the features it runs with: AVX2 there means this CPU has it.
  const avx2 = process.arch === 'x64' && runtimeInfo().cpuFeatures.includes('AVX2');
  for (const int8 of [false, true]) {
    const macs = bench.benchPeakMacs(int8, 1, 1);
    if (!avx2 && macs === 0) {
      t.pass(`${int8 ? 'int8' : 'f32'}: no peak measured without AVX2`);
      continue;
    }
    // One core does at least one multiply-add per nanosecond with AVX2, and not 10^13 per second.
    t.ok(macs > 1e9 && macs < 1e13, `${int8 ? 'int8' : 'f32'}: ${(macs / 1e9).toFixed(1)} G multiply-adds/s`);
  }
  t.throws(() => bench.benchPeakMacs(true, 0, 1), { code: 'ERR_INVALID_ARG_VALUE' });
  t.throws(() => bench.benchPeakMacs('yes' as unknown as boolean, 1, 1), { code: 'ERR_INVALID_ARG_TYPE' });
});
