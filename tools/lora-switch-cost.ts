#!/usr/bin/env node
/**
 * lora-switch-cost: measures what switching LoRA adapters at run time would cost in our design, for the estimate in
 * docs/converter.md ("Switching adapters at run time"): (a) re-merging an adapter into the adapted tensors and
 * re-quantising them (the work a hot swap by merge repeats), and (b) the bytes an unmerged adapter adds to every LM
 * step against the LM weights a step already streams.
 *
 *   node dist/tools/lora-switch-cost.js <hf-dir> <adapter-dir> [type]   (type default q8_0)
 */
import { openWeights } from '../convert/convert';
import { readMusicgenConfig } from '../convert/hf-config';
import { bindAdapters, mergeDeltas, openLoraAdapter } from '../convert/lora';
import { GGML_TYPES, isOutputType, storageType, tensorBytes } from '../convert/quant-policy';
import { planTensors, type TensorPlan } from '../convert/tensor-map';
import { elementCount } from '../convert/tensor-source';
import { native } from '../lib/native';

const [dir, adapterDir, typeArg = 'q8_0'] = process.argv.slice(2);
if (!dir || !adapterDir || !isOutputType(typeArg)) {
  process.stderr.write('usage: lora-switch-cost <hf-dir> <adapter-dir> [f16|q8_0|q4_0|q4_k]\n');
  process.exit(2);
}
const type = typeArg;
const ms = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e6;

const config = readMusicgenConfig(dir);
const source = openWeights(dir);
const adapter = openLoraAdapter(adapterDir, adapterDir, 1);
const plans = planTensors(config, (name) => source.info(name) !== undefined);
const deltas = bindAdapters([adapter], plans);

// What one LM step streams (bench's "weights MB/step"): the LM matrices except the token embeddings (rows are
// gathered) and the cross-attention keys/values (computed once per prompt from the T5 states).
const streamedPerStep = (plan: TensorPlan) =>
  plan.name.startsWith('lm.') &&
  plan.role === 'quantizable' &&
  !plan.name.startsWith('lm.tok_embd') &&
  !/cross_attn_[kv]\./.test(plan.name);

let readMs = 0;
let mergeMs = 0;
let quantizeMs = 0;
let adaptedF16Bytes = 0;
let adaptedStoredBytes = 0;
let adapterElements = 0;
let lmStepBytes = 0;
for (const plan of plans) {
  const row = plan.shape.at(-1)!;
  const stored = storageType(plan.role, type, row);
  const bytes = tensorBytes(stored, elementCount(plan.shape), row);
  if (streamedPerStep(plan)) lmStepBytes += bytes;
  const list = deltas.get(plan.name);
  if (!list) continue;
  adaptedF16Bytes += elementCount(plan.shape) * 2;
  adaptedStoredBytes += bytes;
  for (const { module } of list)
    adapterElements +=
      elementCount(adapter.source.info(module.a)!.shape) + elementCount(adapter.source.info(module.b)!.shape);
  let t = process.hrtime.bigint();
  const w = source.read(plan.inputs[0]!.hf);
  readMs += ms(t);
  t = process.hrtime.bigint();
  mergeDeltas(w, plan.shape, list);
  mergeMs += ms(t);
  t = process.hrtime.bigint();
  if (stored !== 'f32') native().quantize(stored, w, row);
  quantizeMs += ms(t);
}
// An unmerged adapter adds A and B (f16) of every streamed matrix to each step, and two small products per matrix.
let stepAdapter = 0;
let stepProducts = 0;
for (const plan of plans) {
  if (!streamedPerStep(plan)) continue;
  for (const { module } of deltas.get(plan.name) ?? []) {
    stepAdapter +=
      elementCount(adapter.source.info(module.a)!.shape) + elementCount(adapter.source.info(module.b)!.shape);
    stepProducts += 2;
  }
}
source.close();
adapter.source.close();
process.stdout.write(
  `${JSON.stringify(
    {
      type,
      adaptedTensors: deltas.size,
      adaptedBytesStored: adaptedStoredBytes,
      adaptedBytesF16: adaptedF16Bytes,
      adapterParameters: adapterElements,
      lmStepWeightBytes: lmStepBytes,
      unmergedStepExtraBytesF16: stepAdapter * 2,
      unmergedStepExtraFraction: (stepAdapter * 2) / lmStepBytes,
      readMs: Math.round(readMs),
      mergeMs: Math.round(mergeMs),
      quantizeMs: Math.round(quantizeMs),
      unmergedStepExtraProducts: stepProducts,
      ggmlType: GGML_TYPES[type].id,
    },
    null,
    2,
  )}\n`,
);
