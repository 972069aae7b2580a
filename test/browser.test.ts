// examples/http-stream in a real browser: Debian's Chromium (headless, driven by playwright-core, never downloaded)
// opens the example page, which fetch()es the server's stream and plays it with the Web Audio API. The test proves
// that audio is decoded in the page *while* the server is still generating (not after the whole piece was made),
// that the page ends up with exactly the samples the model generates, that a client which stops reading stalls the
// generation (backpressure), and that a page that goes away (closed tab, Stop button) aborts it on the server.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { chromium, type Browser, type Page } from 'playwright-core';
import { convertCheckpoint } from '../convert/convert';
import { checkSystemTool } from './helpers/system-tool';

const CHROMIUM = '/usr/bin/chromium';
const root = path.join(__dirname, '..', '..');
const PROMPT = '80s pop track with bassy drums and synth';
const SEED = 1234;
const DURATION = 30; // seconds of audio: 1500 LM steps, long enough that decoding mid-generation is not a race
const SAMPLE_RATE = 32000;
const MAX_DURATION = 120; // the server's limit in this test

// What examples/http-stream/server.js exports (plain JS, typed here).
interface GenerationRecord {
  id: number;
  prompt: string;
  duration: number;
  seed: number;
  sampleRate: number;
  channels: number;
  status: 'running' | 'done' | 'aborted' | 'failed';
  startedAt: number;
  firstChunkAt: number | undefined;
  endedAt: number | undefined;
  chunks: number;
  samples: number;
  error: string | undefined;
}
interface ExampleApp {
  model: {
    generate(prompt: string, options: object): Promise<{ sampleRate: number; channels: Float32Array[] }>;
  };
  generations: GenerationRecord[];
  active(): number;
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
}
interface ServerModule {
  createServer(options: {
    model: string;
    backend?: string;
    threads?: number;
    maxDuration?: number;
  }): Promise<ExampleApp>;
}

// The page's window.musicgenPlayer, as read back by snapshot().
interface PlayerSnapshot {
  state: string;
  error: string | undefined;
  sampleRate: number;
  channels: number;
  seed: number;
  firstAudioMs: number | undefined;
  chunks: Array<{ at: number; frames: number; sampleRate: number; start: number }>;
  decodedSamples: number;
  buffers: Array<{ sampleRate: number; length: number; numberOfChannels: number }>;
  underruns: number;
  audioState: string;
  played: number;
}

// Page-side code is passed as strings: the project's tsconfig has no DOM types.
const SNAPSHOT = `(() => {
  const p = window.musicgenPlayer;
  return {
    state: p.state, error: p.error, sampleRate: p.sampleRate, channels: p.channels, seed: p.seed,
    firstAudioMs: p.firstAudioMs, chunks: p.chunks, decodedSamples: p.decodedSamples, underruns: p.underruns,
    buffers: p.buffers.map((b) => ({ sampleRate: b.sampleRate, length: b.length, numberOfChannels: b.numberOfChannels })),
    audioState: p.audioState, played: p.played,
  };
})()`;

// Channel `c` of every decoded AudioBuffer, concatenated, as base64 float32 (the exact values the page plays).
const channelBase64 = (c: number) => `(() => {
  const buffers = window.musicgenPlayer.buffers;
  const total = buffers.reduce((n, b) => n + b.length, 0);
  const all = new Float32Array(total);
  let at = 0;
  for (const b of buffers) { all.set(b.getChannelData(${c}), at); at += b.length; }
  const bytes = new Uint8Array(all.buffer);
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
})()`;

async function snapshot(page: Page): Promise<PlayerSnapshot> {
  return (await page.evaluate(SNAPSHOT)) as PlayerSnapshot;
}

async function startGeneration(page: Page, url: string, duration: number): Promise<void> {
  await page.goto(url);
  await page.fill('#prompt', PROMPT);
  await page.fill('#duration', String(duration));
  await page.fill('#seed', String(SEED));
  await page.click('#generate');
}

// Polls until `check` holds (server-side state), failing after `ms`.
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const chromiumCheck = checkSystemTool({ path: CHROMIUM, debianPackage: 'chromium', why: 'the browser test' });
if (process.env.MUSICGEN_SKIP_BROWSER === '1') {
  t.plan(0, 'MUSICGEN_SKIP_BROWSER=1: headless Chromium browser test skipped');
} else if (chromiumCheck !== 'present') {
  // Without Chromium a developer's `npm test` skips with a notice; CI (CI=true, .ci/run installs it) fails.
  if ('fail' in chromiumCheck) t.fail(chromiumCheck.fail);
  else t.plan(0, chromiumCheck.skip);
} else {
  const { createServer } = require(path.join(root, 'examples', 'http-stream', 'server.js')) as ServerModule;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'musicgen-browser-'));
  const modelFile = path.join(tmp, 'tiny-f32.gguf');
  let app: ExampleApp;
  let url: string;
  let browser: Browser;

  t.before(async () => {
    await convertCheckpoint(path.join(root, 'test', 'fixtures', 'musicgen-tiny'), modelFile, { type: 'f32' });
    // One thread: steadier on a busy 2-core machine (an oversubscribed ggml thread pool stalls).
    app = await createServer({ model: modelFile, backend: 'cpu', threads: 1, maxDuration: MAX_DURATION });
    url = await app.listen(0, '127.0.0.1');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--autoplay-policy=no-user-gesture-required',
      ],
    });
  });
  t.teardown(async () => {
    await browser?.close();
    await app?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  t.test('bad requests get a clear 4xx answer', async (t) => {
    const ask = async (query: string) => {
      const response = await fetch(new URL(query, url));
      return { status: response.status, text: await response.text() };
    };
    const missing = await ask('generate');
    t.equal(missing.status, 400);
    t.match(missing.text, /Missing prompt/);
    const blank = await ask('generate?prompt=%20%20&duration=5');
    t.equal(blank.status, 400, 'a blank prompt is missing too');
    for (const duration of ['abc', '0', '-3', String(MAX_DURATION + 1), 'Infinity']) {
      const bad = await ask(`generate?prompt=piano&duration=${duration}`);
      t.equal(bad.status, 400, `duration=${duration}`);
      t.match(bad.text, `duration must be a number of seconds in (0, ${MAX_DURATION}]`);
    }
    const seed = await ask('generate?prompt=piano&duration=1&seed=1.5');
    t.equal(seed.status, 400);
    t.match(seed.text, /seed must be a non-negative integer/);
    t.equal((await ask('nope')).status, 404);
    t.equal(app.generations.length, 0, 'no generation was started by a bad request');
  });

  t.test('the page decodes audio while the server is still generating, and gets every sample', async (t) => {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(`${message.text()} (${message.location().url})`);
    });
    const before = app.generations.length;
    await startGeneration(page, url, DURATION);

    // The first AudioBuffer in the page: at that moment the server's generation must still be running.
    await page.waitForFunction('window.musicgenPlayer.chunks.length >= 1', undefined, {
      timeout: 300_000,
      polling: 5,
    });
    const record = app.generations[before];
    if (!record) throw new Error('the server recorded no generation');
    const statusAtFirstDecode = record.status;
    t.equal(statusAtFirstDecode, 'running', 'the page had decoded audio before the server finished generating');

    await page.waitForFunction("window.musicgenPlayer.state !== 'streaming'", undefined, {
      timeout: 600_000,
      polling: 50,
    });
    const player = await snapshot(page);
    t.equal(player.state, 'done', `the page finished cleanly (error: ${player.error})`);
    t.equal(record.status, 'done');
    t.same(pageErrors, [], 'no errors in the page');
    const endedAt = record.endedAt!;

    // Timestamps: the page's Date.now() and the server's are the same machine clock.
    const decodedBeforeEnd = player.chunks.filter((c) => c.at < endedAt).length;
    const firstAt = player.chunks[0]!.at;
    t.ok(
      firstAt < endedAt,
      `first AudioBuffer decoded ${endedAt - firstAt} ms before the generation ended (negative: after)`,
    );
    t.ok(decodedBeforeEnd >= 2, `${decodedBeforeEnd} of ${player.chunks.length} chunks decoded before the end`);

    // Every buffer is real audio at the model's rate, and together they are exactly what the server generated.
    t.equal(player.sampleRate, SAMPLE_RATE);
    t.equal(player.seed, SEED);
    t.ok(player.buffers.length > 0);
    t.ok(
      player.buffers.every((b) => b.sampleRate === SAMPLE_RATE && b.length > 0 && b.numberOfChannels === 1),
      'every AudioBuffer is mono, 32 kHz, non-empty',
    );
    t.equal(player.buffers.length, record.chunks, 'one AudioBuffer per chunk the server sent');
    t.equal(player.decodedSamples, record.samples, 'the page decoded every sample the server generated');
    t.equal(record.samples, DURATION * SAMPLE_RATE, `${DURATION} s of audio`);

    // And the samples themselves: the same seed through generate() gives the audio the page holds.
    const reference = await app.model.generate(PROMPT, { duration: DURATION, seed: SEED });
    const decoded = new Float32Array(Buffer.from((await page.evaluate(channelBase64(0))) as string, 'base64').buffer);
    const expected = reference.channels[0]!;
    t.equal(decoded.length, expected.length);
    let maxDiff = 0;
    let peak = 0;
    for (let i = 0; i < expected.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(decoded[i]! - expected[i]!));
      peak = Math.max(peak, Math.abs(expected[i]!));
    }
    t.ok(peak > 0, 'the audio is not silence');
    t.ok(maxDiff <= 1e-6, `page audio vs generate(): max |diff| ${maxDiff.toExponential(2)}`);

    const generationMs = endedAt - record.startedAt;
    t.comment(
      `generation ${generationMs} ms for ${DURATION} s of audio; server first chunk after ` +
        `${record.firstChunkAt! - record.startedAt} ms; page first AudioBuffer ${player.firstAudioMs} ms after the ` +
        `click (${endedAt - firstAt} ms before the generation ended); ${decodedBeforeEnd}/${player.chunks.length} ` +
        `chunks decoded before the end; AudioContext ${player.audioState}, ${player.played.toFixed(1)} s played, ` +
        `underruns ${player.underruns}`,
    );
    await page.close();
  });

  t.test('a client that stops reading stalls the generation (backpressure); reading again resumes it', async (t) => {
    const before = app.generations.length;
    // 120 s of float32 audio is 15 MB: more than the loopback socket buffers hold (Linux: at most ~10 MB).
    const duration = MAX_DURATION;
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(new URL(`generate?prompt=piano&duration=${duration}&seed=${SEED}`, url), resolve).on('error', reject);
    });
    response.pause();
    const record = app.generations[before];
    if (!record) throw new Error('the server recorded no generation');
    // Wait until the server has sent nothing new for 2 s.
    let last = -1;
    let stableSince = Date.now();
    await until(
      () => {
        if (record.samples !== last) [last, stableSince] = [record.samples, Date.now()];
        return (record.samples > 0 && Date.now() - stableSince > 2000) || record.status !== 'running';
      },
      300_000,
      'the server to stop sending',
    );
    t.equal(record.status, 'running', 'the generation waits for the reader instead of running to the end');
    if (record.status !== 'running') {
      response.destroy();
      return;
    }
    const stalledAt = record.samples;
    t.ok(stalledAt < duration * SAMPLE_RATE, `stalled after ${(stalledAt / SAMPLE_RATE).toFixed(1)} of ${duration} s`);
    response.resume();
    await until(() => record.samples >= stalledAt + 5 * SAMPLE_RATE, 300_000, 'the generation to go on');
    t.pass(`reading again resumed the generation (${(record.samples / SAMPLE_RATE).toFixed(1)} s sent)`);
    response.destroy();
    await until(() => record.status !== 'running', 30_000, 'the generation to stop');
    t.equal(record.status, 'aborted', 'a client that disconnects aborts its generation');
    t.equal(app.active(), 0, 'no generation left running');
  });

  for (const how of ['closing the page', 'the Stop button'] as const) {
    t.test(`${how} mid-stream aborts the server-side generation`, async (t) => {
      const page = await browser.newPage();
      const before = app.generations.length;
      const duration = 60;
      await startGeneration(page, url, duration);
      await page.waitForFunction('window.musicgenPlayer.chunks.length >= 1', undefined, {
        timeout: 300_000,
        polling: 5,
      });
      const record = app.generations[before];
      if (!record) throw new Error('the server recorded no generation');
      t.equal(record.status, 'running', 'still generating when the page goes away');
      const leftAt = Date.now();
      if (how === 'the Stop button') await page.click('#stop');
      else await page.close();
      await until(() => record.status !== 'running', 30_000, 'the generation to stop');
      t.equal(record.status, 'aborted');
      t.ok(record.samples < duration * SAMPLE_RATE, `stopped after ${record.samples / SAMPLE_RATE} of ${duration} s`);
      t.equal(app.active(), 0, 'no generation left running');
      t.comment(`generation stopped ${record.endedAt! - leftAt} ms after the page went away`);
      if (how === 'the Stop button') {
        await page.waitForFunction("window.musicgenPlayer.state !== 'streaming'", undefined, { timeout: 30_000 });
        t.equal((await snapshot(page)).state, 'stopped', 'the page shows it stopped');
        await page.close();
      }
    });
  }
}
