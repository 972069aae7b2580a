// The few HTTP exchanges the hub protocol needs, on node:http / node:https (not fetch: a HEAD must show the
// redirect's own headers — X-Linked-Etag sits on the 302 — and a dropped body must surface as an error we can
// resume from). Redirects are followed the way huggingface_hub follows them: HEAD only relative ones (renamed
// repos), GET all of them, the Authorization header dropped when the host changes (e.g. to the LFS CDN).
import * as http from 'node:http';
import * as https from 'node:https';
import { MusicGenError } from '../../lib/errors';

export interface HttpOptions {
  headers: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Milliseconds without any byte (connect, headers or body) before the request fails. */
  idleTimeoutMs: number;
}

/** A failure below HTTP: refused connection, reset, timeout, DNS. The caller turns it into a HubError. */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransportError';
  }
}

export function abortedError(): MusicGenError {
  return new MusicGenError('ERR_MUSICGEN_ABORTED', 'the download was aborted');
}

function once(method: 'GET' | 'HEAD', url: URL, options: HttpOptions): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(abortedError());
    const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
    if (!client) return reject(new TransportError(`unsupported protocol ${url.protocol}`, url.href));
    const request = client.request(url, { method, headers: options.headers });
    const onAbort = () => request.destroy(abortedError());
    options.signal?.addEventListener('abort', onAbort, { once: true });
    request.setTimeout(options.idleTimeoutMs, () =>
      request.destroy(new TransportError(`no data for ${options.idleTimeoutMs} ms`, url.href)),
    );
    request.on('error', (error) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(
        error instanceof MusicGenError || error instanceof TransportError
          ? error
          : new TransportError(error.message, url.href, { cause: error }),
      );
    });
    request.on('response', (response) => {
      response.on('close', () => options.signal?.removeEventListener('abort', onAbort));
      resolve(response);
    });
    request.end();
  });
}

export interface HttpResponse {
  response: http.IncomingMessage;
  /** The URL that answered (after redirects). */
  url: string;
}

/** One request, redirects followed as described above (at most 10). The body of a redirect is discarded. */
export async function request(method: 'GET' | 'HEAD', url: string, options: HttpOptions): Promise<HttpResponse> {
  let current = new URL(url);
  let headers = { ...options.headers };
  for (let hop = 0; hop <= 10; hop++) {
    const response = await once(method, current, { ...options, headers });
    const location = response.headers.location;
    const isRedirect = response.statusCode !== undefined && response.statusCode >= 300 && response.statusCode < 400;
    if (!isRedirect || !location) return { response, url: current.href };
    const relative = !/^[a-z][a-z0-9+.-]*:\/\//i.test(location);
    if (method === 'HEAD' && !relative) return { response, url: current.href };
    response.resume();
    const next = new URL(location, current);
    if (next.host !== current.host) {
      const { authorization: _dropped, Authorization: _Dropped, ...rest } = headers;
      headers = rest;
    }
    current = next;
  }
  throw new TransportError('more than 10 redirects', url);
}

/** Reads a (small) body as text, with a size cap so a hostile server cannot fill memory. */
export async function readText(response: http.IncomingMessage, limit = 64 * 2 ** 20): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      response.destroy();
      throw new TransportError(`response larger than ${limit} bytes`, response.url ?? '');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
