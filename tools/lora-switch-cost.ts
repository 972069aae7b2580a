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
import { planTensors } from '../convert/tensor-map';
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
  // What one LM step streams: every LM matrix except the token embeddings (rows gathered, not streamed).
  if (plan.name.startsWith('lm.') && plan.role === 'quantizable' && !plan.name.startsWith('lm.tok_embd'))
    lmStepBytes += bytes;
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
source.close();
adapter.source.close();
const stepAdapter =
  adapterElements -
  [...deltas.keys()]
    .filter((n) => n.startsWith('lm.tok_embd'))
    .reduce(
      (sum, n) => sum + deltas.get(n)!.reduce((s, d) => s + elementCount(adapter.source.info(d.module.a)!.shape), 0),
      0,
    );
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
      ggmlType: GGML_TYPES[type].id,
    },
    null,
    2,
  )}\n`,
);
