#!/usr/bin/env node
/**
 * make-lora-adapter: writes a seeded random PEFT LoRA adapter for a Hugging Face MusicGen folder, in the layout
 * peft's save_pretrained leaves (adapter_config.json + adapter_model.safetensors, names without the adapter name)
 * with musicgen-dreamboothing's target modules, for measuring and testing `musicgen-convert --lora` on real shapes
 * without a trained adapter. Shapes come from the base's config.json and weights header (docs/converter.md, LoRA).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { openWeights } from '../convert/convert';
import { readMusicgenConfig } from '../convert/hf-config';
import { planTensors } from '../convert/tensor-map';
import { MusicGenError } from '../lib/errors';
import { Prng } from './prng';
import { writeSafetensors, type TensorEntry } from './safetensors-writer';

const USAGE = `Usage: make-lora-adapter --base DIR -o DIR [options]

Options:
  --base DIR         Hugging Face MusicGen folder the adapter is for (config.json + weights)
  -o, --output DIR   adapter folder to write (created; must be empty or missing)
  --r N              LoRA rank (default 16)
  --alpha N          lora_alpha (default: r, as dreambooth_musicgen.py)
  --seed N           random seed (default 0)
  --dtype f32|f16    tensor dtype (default f32)
  -h, --help         show this help
`;

// dreambooth_musicgen.py --use_lora: these modules plus lm_heads.{k} and embed_tokens.{k} for every codebook.
const DREAMBOOTH_TARGETS = [
  'enc_to_dec_proj',
  'audio_enc_to_dec_proj',
  'q_proj',
  'k_proj',
  'v_proj',
  'out_proj',
  'fc1',
  'fc2',
];

const usageError = (message: string) => new MusicGenError('ERR_MUSICGEN_INVALID_OPTION', message);

function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || !Number.isSafeInteger(n))
    throw usageError(`--${name}: expected a positive integer, got '${text}'`);
  return n;
}

/** peft's key matching: the target equals the module path or is a '.'-separated suffix of it. */
const matches = (module: string, target: string) => module === target || module.endsWith(`.${target}`);

function main(argv: string[]): void {
  const { values: args } = parseArgs({
    args: argv,
    options: {
      base: { type: 'string' },
      output: { type: 'string', short: 'o' },
      r: { type: 'string', default: '16' },
      alpha: { type: 'string' },
      seed: { type: 'string', default: '0' },
      dtype: { type: 'string', default: 'f32' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (!args.base) throw usageError('--base: required');
  if (!args.output) throw usageError('--output (-o): required');
  const r = positiveInt('r', args.r);
  const alpha = args.alpha === undefined ? r : positiveInt('alpha', args.alpha);
  const seed = Number(args.seed);
  if (!/^\d+$/.test(args.seed) || seed > 0xffffffff)
    throw usageError(`--seed: expected 0..4294967295, got '${args.seed}'`);
  if (args.dtype !== 'f32' && args.dtype !== 'f16')
    throw usageError(`--dtype: expected f32 or f16, got '${args.dtype}'`);
  if (fs.existsSync(args.output) && fs.readdirSync(args.output).length > 0)
    throw usageError(`--output: ${args.output} is not empty`);

  const config = readMusicgenConfig(args.base);
  const weights = openWeights(args.base);
  const plans = (() => {
    try {
      return planTensors(config, (name) => weights.info(name) !== undefined);
    } finally {
      weights.close();
    }
  })();
  const K = config.decoder.numCodebooks;
  const targets = [
    ...DREAMBOOTH_TARGETS,
    ...Array.from({ length: K }, (_, k) => `lm_heads.${k}`),
    ...Array.from({ length: K }, (_, k) => `embed_tokens.${k}`),
  ];

  const entries: TensorEntry[] = [];
  const random = (name: string, std: number) => () => {
    const prng = new Prng(seed, name);
    return (out: Float32Array) => {
      for (let i = 0; i < out.length; i++) out[i] = prng.normal() * std;
    };
  };
  let modules = 0;
  for (const plan of plans) {
    const hf = plan.inputs[0]!.hf;
    if (plan.build !== 'copy' || plan.shape.length !== 2 || !hf.endsWith('.weight')) continue;
    const module = hf.slice(0, -'.weight'.length);
    if (!targets.some((t) => matches(module, t))) continue;
    modules++;
    const [rows, cols] = plan.shape as [number, number];
    const prefix = `base_model.model.${module}`;
    // Trained adapters have B != 0 (peft initialises it to 0); A ~ kaiming-like 1/sqrt(fan-in), B small.
    if (/\.embed_tokens\.\d+$/.test(module)) {
      entries.push({ name: `${prefix}.lora_embedding_A`, shape: [r, rows], values: random(`${prefix}.A`, 1) });
      entries.push({ name: `${prefix}.lora_embedding_B`, shape: [cols, r], values: random(`${prefix}.B`, 0.01) });
    } else {
      entries.push({
        name: `${prefix}.lora_A.weight`,
        shape: [r, cols],
        values: random(`${prefix}.A`, 1 / Math.sqrt(cols)),
      });
      entries.push({ name: `${prefix}.lora_B.weight`, shape: [rows, r], values: random(`${prefix}.B`, 0.01) });
    }
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  fs.mkdirSync(args.output, { recursive: true });
  const bytes = writeSafetensors(
    path.join(args.output, 'adapter_model.safetensors'),
    entries,
    args.dtype === 'f32' ? 'F32' : 'F16',
  );
  // peft 0.10.0's LoraConfig as save_pretrained writes it (task_type null, as the dreamboothing script leaves it).
  const adapterConfig = {
    alpha_pattern: {},
    auto_mapping: {
      base_model_class: 'MusicgenForConditionalGeneration',
      parent_library: 'transformers.models.musicgen.modeling_musicgen',
    },
    base_model_name_or_path: args.base,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: alpha,
    lora_dropout: 0.05,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r,
    rank_pattern: {},
    revision: null,
    target_modules: [...targets].sort(),
    task_type: null,
    use_dora: false,
    use_rslora: false,
  };
  fs.writeFileSync(path.join(args.output, 'adapter_config.json'), `${JSON.stringify(adapterConfig, null, 2)}\n`);
  process.stdout.write(
    `${args.output}: r ${r}, lora_alpha ${alpha}, ${modules} modules, ${entries.length} tensors, ${(bytes / 1e6).toFixed(1)} MB ${args.dtype}\n`,
  );
}

try {
  main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`make-lora-adapter: ${(error as Error).message}\n`);
  process.exit(error instanceof MusicGenError && error.code === 'ERR_MUSICGEN_INVALID_OPTION' ? 2 : 1);
}
