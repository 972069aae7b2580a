// facebook/musicgen-stereo-melody(-large) has no golden of its own (the fixtures hold mono melody and stereo text
// models), so this checks the combination end to end on our random-weight layout of it: it converts, loads as a
// 2-channel melody model with 8 codebooks, follows a melody in generate(), and stream() gives the same samples.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { convertCheckpoint } from '../convert/convert';
import { MusicGen, type AudioChunk } from '../lib';
import { resolveSpec } from '../tools/presets';
import { writeRandomCheckpoint } from '../tools/random-checkpoint';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-stereo-melody-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

t.test('a stereo melody model converts, generates with a melody and streams the same audio', async (t) => {
  const dir = path.join(tmp, 'checkpoint');
  writeRandomCheckpoint({
    dir,
    spec: resolveSpec('tiny-melody', ['decoder.num_codebooks=8', 'decoder.audio_channels=2']),
    dtype: 'f32',
    seed: 11,
    maxShardBytes: Number.MAX_SAFE_INTEGER,
  });
  const file = path.join(tmp, 'stereo-melody.gguf');
  await convertCheckpoint(dir, file, { type: 'f32' });
  const gen = await MusicGen.load(file, { backend: 'cpu', threads: 2 });
  t.teardown(() => gen.dispose());
  t.match(gen.info, { variant: 'melody', channels: 2, codebooks: 8 });

  // An A (440 Hz): the null chroma that text-only rows use is all C, so a C melody would look like none.
  const sampleRate = 32000;
  const melody = {
    channels: [Float32Array.from({ length: 2 * sampleRate }, (_, i) => Math.sin((2 * Math.PI * 440 * i) / sampleRate))],
    sampleRate,
  };
  const options = { frames: 20, melody, topK: 1, seed: 1 };
  const result = await gen.generate('bright synth', options);
  t.equal(result.channels.length, 2);
  t.equal(result.codes.codebooks, 8);
  const silentMelody = await gen.generate('bright synth', { ...options, melody: undefined });
  t.notSame(result.codes.data, silentMelody.codes.data, 'the melody changes the codes');

  const chunks: AudioChunk[] = [];
  for await (const chunk of gen.stream('bright synth', { ...options, chunkFrames: 3 })) chunks.push(chunk);
  for (const channel of [0, 1]) {
    const joined = Float32Array.from(chunks.flatMap((c) => Array.from(c.channels[channel]!)));
    t.same(joined, result.channels[channel], `channel ${channel} streamed sample for sample`);
  }
});
