import { Agent, request } from 'node:http';

/** Status and body of one HTTP response. */
export interface HttpResponse {
  status: number;
  body: string;
}

/**
 * A keep-alive HTTP client for load over loopback: at most `sockets` connections, reused between
 * requests as a load generator such as autocannon does.
 */
export class HttpClient {
  private readonly agent: Agent;

  constructor(
    private readonly baseUrl: string,
    sockets: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: sockets });
  }

  /** Sends one request with an optional JSON body and resolves with the whole response. */
  send(
    method: string,
    path: string,
    options: { body?: unknown; token?: string } = {},
  ): Promise<HttpResponse> {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = {};
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    if (options.token !== undefined) {
      headers['authorization'] = `Bearer ${options.token}`;
    }

    return new Promise((resolve, reject) => {
      const outgoing = request(
        new URL(path, this.baseUrl),
        { method, headers, agent: this.agent },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          response.on('error', reject);
        },
      );
      outgoing.on('error', reject);
      outgoing.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
