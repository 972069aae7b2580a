#!/usr/bin/env node
/**
 * gpu-report: the one table scripts/gpu-check.sh prints last — our figures per backend, preset and weight type
 * (bench/bench.ts result files) beside the transformers reference on the same GPU and shapes
 * (bench/hf-reference.py output, one JSON object per line), with the targets for an H100/H200.
 *   node dist/tools/gpu-report.js RESULT.json... [HF.jsonl]
 */
import * as fs from 'node:fs';

interface Row {
  backend: string;
  preset: string;
  type: string;
  lmStepsPerSec: number;
  lmMsPerStep: number;
  bandwidthFloorMs: number;
  stepOverFloor: number;
  copyGBps: number;
  firstChunkMs: number;
  decodeTimesRealTime: number;
  realTimeFactor: number;
  devicePeakMiB: number | null;
}

interface Reference {
  preset: string;
  device: string;
  dtype: string;
  lmStepsPerSec: number;
  realTimeFactor: number;
  devicePeakMiB: number | null;
}

/** The targets on an H100/H200 (LM steps/s with CFG), also printed under the table. */
const STEP_TARGETS: Record<string, number> = { small: 1000, medium: 400, large: 250 };

function fixed(value: number | null | undefined, digits: number): string {
  return value !== null && value !== undefined && Number.isFinite(value) ? value.toFixed(digits) : '-';
}

function main(): void {
  const rows: Row[] = [];
  const references: Reference[] = [];
  const machines = new Set<string>();
  for (const file of process.argv.slice(2)) {
    const text = fs.readFileSync(file, 'utf8');
    if (file.endsWith('.jsonl')) {
      for (const line of text.split('\n')) if (line.trim().startsWith('{')) references.push(JSON.parse(line));
      continue;
    }
    const result = JSON.parse(text) as { machine: { cpu: string; cores: number }; results: Row[] };
    machines.add(`${result.machine.cpu}, ${result.machine.cores} cores`);
    rows.push(...result.results);
  }
  const header = [
    'backend',
    'preset',
    'type',
    'LM steps/s (CFG)',
    'target',
    'ms/step',
    'bandwidth floor ms',
    'step / bandwidth floor',
    'device copy GB/s',
    'first audio ms',
    'decode x RT',
    'end-to-end x RT',
    'device peak MiB',
    'x transformers',
  ];
  const lines = rows.map((r) => {
    const reference = references.find((h) => h.preset === r.preset);
    return [
      r.backend,
      r.preset,
      r.type,
      fixed(r.lmStepsPerSec, 0),
      String(STEP_TARGETS[r.preset] ?? '-'),
      fixed(r.lmMsPerStep, 2),
      fixed(r.bandwidthFloorMs, 2),
      fixed(r.stepOverFloor, 2),
      fixed(r.copyGBps, 0),
      fixed(r.firstChunkMs, 0),
      fixed(r.decodeTimesRealTime, 1),
      fixed(r.realTimeFactor, 1),
      fixed(r.devicePeakMiB, 0),
      reference ? fixed(r.lmStepsPerSec / reference.lmStepsPerSec, 1) : '-',
    ];
  });
  for (const h of references) {
    lines.push([
      `transformers (${h.device})`,
      h.preset,
      h.dtype,
      fixed(h.lmStepsPerSec, 1),
      '-',
      fixed(1000 / h.lmStepsPerSec, 2),
      '-',
      '-',
      '-',
      '-',
      '-',
      fixed(h.realTimeFactor, 2),
      fixed(h.devicePeakMiB, 0),
      '1.0',
    ]);
  }
  console.log(`\nMusicGen on ${[...machines].join('; ') || 'unknown machine'} (random weights, real shapes, CFG 3)\n`);
  console.log([header, header.map(() => '---'), ...lines].map((l) => `| ${l.join(' | ')} |`).join('\n'));
  console.log(
    '\nTargets (H100/H200): small >= 1000 LM steps/s with CFG, medium >= 400, large >= 250; small end-to-end >= 20x ' +
      'real time; first audio <= 100 ms; >= 10x the transformers reference on the same GPU.',
  );
}

main();
