/** The HTTP client plugins get: fetch with a timeout on every request, never throwing on a status. */
import { PluginError, type HttpClient, type HttpRequestOptions, type HttpResponse } from './types.js';

export function createHttpClient(defaultTimeoutMs = 10_000): HttpClient {
  return {
    async request(url: string, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
      const timeout = opts.timeoutMs ?? defaultTimeoutMs;
      let res: Response;
      try {
        res = await fetch(url, {
          method: opts.method ?? 'GET',
          headers: opts.headers,
          body: opts.body as BodyInit | undefined,
          signal: AbortSignal.timeout(timeout),
          redirect: 'manual',
        });
      } catch (err) {
        const e = err as Error;
        const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
        throw new PluginError(
          timedOut
            ? `request to ${new URL(url).host} timed out after ${timeout} ms`
            : `request to ${new URL(url).host} failed: ${e.message}`,
          {
            retryable: true,
            cause: err,
          },
        );
      }
      const text = await res.text();
      const headers: Record<string, string> = {};
      res.headers.forEach((v, k) => {
        headers[k] = v;
      });
      return {
        status: res.status,
        headers,
        text,
        json<T>() {
          return JSON.parse(text) as T;
        },
      };
    },
  };
}

/** 5xx, 408 and 429 are worth retrying; other 4xx are not. */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}
