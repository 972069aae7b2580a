#!/usr/bin/env node
'use strict';
// Streams MusicGen audio to a web page while it is generated (node:http only, no framework).
//
//   node examples/http-stream/server.js [model.gguf] [port]     then open http://localhost:8080/
//
// GET /            -> index.html (the player)
// GET /generate?prompt=...&duration=10[&seed=N]
//   200, Content-Type application/octet-stream, headers X-Sample-Rate, X-Channels, X-Seed, X-Duration; the body is
//   a sequence of messages, one per generated chunk:
//     uint32 LE  frames          samples per channel in this message; 0 = end of stream (generation complete)
//     float32 LE samples[frames * channels], planar: all of channel 0, then all of channel 1 (stereo)
//   A body that stops without the 0 marker was cut short (the generation failed or the server went away).
//   400 text/plain for a bad prompt, duration or seed; 503 when too many generations are running.
//
// Backpressure: the next chunk is only pulled from gen.stream() once the socket has taken the previous one
// ('drain'), so a slow client slows the generation down instead of filling the server's memory. A client that
// disconnects (closes the tab, presses Stop) aborts its generation through an AbortController.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { MusicGen, MusicGenError, defaultModelPath } = require('musicgen-native');

const INDEX_HTML = path.join(__dirname, 'index.html');
const END_OF_STREAM = Buffer.alloc(4); // a message of 0 frames
const KEEP_RECORDS = 100;

/** One chunk as a wire message: uint32 frames, then each channel's samples as float32 little-endian. */
function encodeChunk(chunk) {
  const { frames, channels } = chunk;
  const message = Buffer.allocUnsafe(4 + frames * channels.length * 4);
  message.writeUInt32LE(frames, 0);
  let offset = 4;
  for (const samples of channels) {
    for (let i = 0; i < frames; i++, offset += 4) message.writeFloatLE(samples[i], offset);
  }
  return message;
}

// Resolves once `res` can take more data, or once the connection is gone (whichever comes first).
function drained(res) {
  return new Promise((resolve) => {
    if (res.destroyed) return resolve(); // 'close' has been emitted already
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function sendText(res, status, text, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(`${text}\n`);
}

/**
 * Loads the model and creates (does not start) the HTTP server.
 * @param {object} [options]
 * @param {string} [options.model] GGUF model path; default: the bundled smoke-test model (defaultModelPath()).
 * @param {'auto'|'cpu'|'cuda'|'metal'} [options.backend]
 * @param {number} [options.threads]
 * @param {number} [options.maxDuration] longest duration a request may ask for, in seconds (default 60)
 * @param {number} [options.maxConcurrent] generations running at once before answering 503 (default 2)
 * @returns {Promise<{ server: http.Server, model: MusicGen, generations: object[], active(): number,
 *   listen(port?: number, host?: string): Promise<string>, close(): Promise<void> }>}
 */
async function createServer(options = {}) {
  const modelPath = options.model ?? defaultModelPath();
  const maxDuration = options.maxDuration ?? 60;
  const maxConcurrent = options.maxConcurrent ?? 2;
  const model = await MusicGen.load(modelPath, { backend: options.backend, threads: options.threads });
  const { sampleRate, channels } = model.info;
  // What each generation did (newest last): status 'running' | 'done' | 'aborted' | 'failed'.
  const generations = [];
  const running = new Set(); // AbortControllers of the generations in progress
  let nextId = 1;

  async function generate(req, res, url) {
    const prompt = (url.searchParams.get('prompt') ?? '').trim();
    if (prompt === '') return sendText(res, 400, 'Missing prompt: use /generate?prompt=<text>&duration=<seconds>');
    if (prompt.length > 1000) return sendText(res, 400, `The prompt is too long (${prompt.length} > 1000 characters)`);
    const durationText = url.searchParams.get('duration') ?? '';
    const duration = durationText.trim() === '' ? 10 : Number(durationText);
    if (!Number.isFinite(duration) || duration <= 0 || duration > maxDuration) {
      return sendText(res, 400, `duration must be a number of seconds in (0, ${maxDuration}], got "${durationText}"`);
    }
    const seedText = url.searchParams.get('seed') ?? '';
    const seed = seedText.trim() === '' ? Math.floor(Math.random() * 2 ** 31) : Number(seedText);
    if (!Number.isSafeInteger(seed) || seed < 0) {
      return sendText(res, 400, `seed must be a non-negative integer, got "${seedText}"`);
    }
    if (running.size >= maxConcurrent) {
      return sendText(res, 503, `Busy: ${running.size} generations are running, try again shortly`, {
        'Retry-After': '5',
      });
    }

    const controller = new AbortController();
    let stream;
    try {
      stream = model.stream(prompt, { duration, seed, signal: controller.signal });
    } catch (error) {
      if (error instanceof MusicGenError && error.code === 'ERR_MUSICGEN_INVALID_OPTION') {
        return sendText(res, 400, error.message);
      }
      throw error;
    }
    const record = {
      id: nextId++,
      prompt,
      duration,
      seed,
      sampleRate,
      channels,
      status: 'running',
      startedAt: Date.now(),
      firstChunkAt: undefined,
      endedAt: undefined,
      chunks: 0,
      samples: 0, // per channel
      error: undefined,
    };
    generations.push(record);
    if (generations.length > KEEP_RECORDS) generations.shift();
    running.add(controller);

    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'X-Sample-Rate': String(sampleRate),
      'X-Channels': String(channels),
      'X-Seed': String(seed),
      'X-Duration': String(duration),
    });
    // 'close' before the response finished: the client went away (tab closed, Stop pressed).
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    try {
      for await (const chunk of stream) {
        if (controller.signal.aborted) break; // leaving the loop stops the generation
        const more = res.write(encodeChunk(chunk));
        record.firstChunkAt ??= Date.now();
        record.chunks++;
        record.samples += chunk.frames;
        if (!more) await drained(res);
      }
      if (controller.signal.aborted) {
        record.status = 'aborted';
      } else {
        record.status = 'done';
        res.end(END_OF_STREAM);
      }
    } catch (error) {
      if (controller.signal.aborted) {
        record.status = 'aborted';
      } else {
        record.status = 'failed';
        record.error = error instanceof Error ? error.message : String(error);
        res.destroy(); // no end marker: the client sees a cut-off stream
      }
    } finally {
      record.endedAt = Date.now();
      running.delete(controller);
    }
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendText(res, 405, `${req.method} is not supported`, { Allow: 'GET, HEAD' });
    }
    if (url.pathname === '/' || url.pathname === '/index.html') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      if (req.method === 'HEAD') return res.end();
      return fs.createReadStream(INDEX_HTML).pipe(res);
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204);
      return res.end();
    }
    if (url.pathname === '/generate') {
      if (req.method === 'HEAD') return sendText(res, 405, 'Use GET for /generate', { Allow: 'GET' });
      return generate(req, res, url).catch((error) => {
        console.error('generate failed:', error);
        if (!res.headersSent) sendText(res, 500, error instanceof Error ? error.message : String(error));
        else res.destroy();
      });
    }
    sendText(res, 404, `Not found: ${url.pathname}`);
  });

  return {
    server,
    model,
    generations,
    active: () => running.size,
    /** Starts listening (port 0 = any free port) and resolves to the server's base URL. */
    listen(port = 8080, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address();
          resolve(`http://${host.includes(':') ? `[${host}]` : host}:${address.port}/`);
        });
      });
    },
    /** Aborts running generations, closes every connection and frees the model. */
    async close() {
      for (const controller of running) controller.abort();
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      model.dispose();
    },
  };
}

module.exports = { createServer, encodeChunk };

if (require.main === module) {
  const [modelArg, portArg] = process.argv.slice(2);
  const port = portArg === undefined ? 8080 : Number(portArg);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`usage: node server.js [model.gguf] [port]  (bad port "${portArg}")`);
    process.exit(2);
  }
  createServer({ model: modelArg || undefined }) // '' = the default model
    .then(async (app) => {
      const url = await app.listen(port, 'localhost');
      const info = app.model.info;
      console.log(`MusicGen (${info.variant}, ${info.sampleRate} Hz, ${info.channels} ch) streaming at ${url}`);
      const stop = () => app.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    })
    .catch((error) => {
      const code = error instanceof MusicGenError ? ` [${error.code}]` : '';
      console.error(`server: ${error instanceof Error ? error.message : String(error)}${code}`);
      process.exit(1);
    });
}
