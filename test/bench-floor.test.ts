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

// The decoder's cost counted natively from its stages must equal the same count written out from the codec's
// hyper-parameters (HF's SEANet decoder: a kernelSize convolution to the innermost width, the LSTM, then per ratio
// a transposed convolution of kernel 2 * ratio halving the width and numResidualLayers residual blocks, and a
// lastKernelSize convolution to one channel).
t.test('the decoder floor counts every product of the decoder at its rate', async (t) => {
  const model = await native().loadModel(defaultModelPath(), { backend: 'cpu', threads: 1 });
  t.teardown(() => model.dispose());
  const codec = model.info().hparams.codec;
  let rate = codec.sampleRate / codec.hopLength;
  let width = codec.numFilters * 2 ** codec.upsamplingRatios.length;
  let macs = codec.hiddenSize * codec.kernelSize * width * rate;
  const lstm = codec.numLstmLayers * 2 * 4 * width * width * rate;
  macs += lstm;
  for (const ratio of codec.upsamplingRatios) {
    macs += width * (width / 2) * 2 * ratio * rate;
    width /= 2;
    rate *= ratio;
    const hidden = width / codec.compress;
    macs += codec.numResidualLayers * (width * codec.residualKernelSize * hidden + hidden * width) * rate;
  }
  macs += width * codec.lastKernelSize * rate;
  const cost = nativeDiagnostics().benchDecoderCost(model);
  t.equal(rate, codec.sampleRate, 'the count ends at the sample rate');
  t.equal(cost.frameRate, codec.sampleRate / codec.hopLength);
  t.equal(cost.macsPerSecond, macs);
  t.equal(cost.lstmMacsPerSecond, lstm);
  // The smoke-test model stores its LSTM as f16: 4C x C two-byte weights per layer, read once per frame.
  const inner = codec.numFilters * 2 ** codec.upsamplingRatios.length;
  t.equal(cost.lstmRecurrentBytesPerFrame, codec.numLstmLayers * 4 * inner * inner * 2);
  t.throws(() => nativeDiagnostics().benchDecoderCost({} as never), { code: 'ERR_INVALID_ARG_TYPE' });
});
