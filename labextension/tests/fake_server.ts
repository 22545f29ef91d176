// A fake Jupyter server for the client's tests: ServerConnection settings under a non-root base URL
// whose `fetch` records every request and answers it with a handler.
import { ServerConnection } from '@jupyterlab/services';

export const BASE = 'http://localhost:8888/some/base/';

export type Handler = (request: Request) => Response | Promise<Response>;

/** Settings whose fetch records every request and answers with `handler`. */
export function fakeServer(handler: Handler): {
  settings: ServerConnection.ISettings;
  requests: Request[];
} {
  const requests: Request[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(input, init);
    requests.push(request);
    return handler(request);
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: BASE,
    token: 'secret-token',
    fetch: fetch as typeof globalThis.fetch,
  });
  return { settings, requests };
}

/** A JSON answer. */
export const json = (body: unknown, status = 200): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

/** The path of a request's URL. */
export const path = (request: Request): string => new URL(request.url).pathname;
