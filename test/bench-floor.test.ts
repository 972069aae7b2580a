// The bench's floor measurements (native/bench/lm-floor.h) on each backend: the device copy bandwidth is measured
// from a copy that ran (the native side reads the copied values back and throws otherwise: a GPU backend once
// skipped the copy node and reported terabytes per second from an empty graph), device memory is listed per
// device, and bad arguments are refused.
import t from 'tap';
import { defaultModelPath } from '../lib/default-model';
import { native } from '../lib/native';
import { nativeDiagnostics } from '../lib/native-diagnostics';
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
