// A stand-in for an Ollama server on 127.0.0.1 (random port), speaking the part of its API the
// router uses: POST /api/chat (non-streaming) and POST /api/show. No real ollama runs here.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ChatBehaviour =
  | { kind: 'answer'; content: string }
  | { kind: 'model-missing' }
  /** Holds the request open until the stand-in is closed. */
  | { kind: 'hang' };

export interface StandIn {
  host: string;
  /** Bodies of the /api/chat requests received, parsed. */
  chats: Record<string, any>[];
  behave(b: ChatBehaviour): void;
  close(): Promise<void>;
}

export async function startStandIn(model: string): Promise<StandIn> {
  let behaviour: ChatBehaviour = { kind: 'model-missing' };
  const chats: Record<string, any>[] = [];
  const held: ServerResponse[] = [];
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const missing = (res: ServerResponse, name: string) => json(res, 404, { error: `model '${name}' not found` });

  const server: Server = createServer(async (req: IncomingMessage, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = raw ? JSON.parse(raw) : {};
    if (req.method === 'POST' && req.url === '/api/show') {
      return body.model === model && behaviour.kind !== 'model-missing'
        ? json(res, 200, { modelfile: '', parameters: '', template: '', details: { family: 'qwen2' } })
        : missing(res, body.model);
    }
    if (req.method === 'POST' && req.url === '/api/chat') {
      chats.push(body);
      if (behaviour.kind === 'model-missing' || body.model !== model) return missing(res, body.model);
      if (behaviour.kind === 'hang') return void held.push(res);
      return json(res, 200, {
        model,
        created_at: new Date().toISOString(),
        message: { role: 'assistant', content: behaviour.content },
        done: true,
        done_reason: 'stop',
      });
    }
    json(res, 404, { error: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `http://127.0.0.1:${port}`,
    chats,
    behave: (b) => (behaviour = b),
    close: () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port nobody listens on: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
