import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as LangfuseLangChain from 'langfuse-langchain';

/** The body of an ingestion event, as Langfuse 3's SDK posts it (the fields the specs read). */
export interface IngestedBody {
  id: string;
  traceId?: string;
  parentObservationId?: string;
  name?: string;
  input?: unknown;
  output?: unknown;
  level?: string;
  statusMessage?: string;
  model?: string;
  usage?: Record<string, unknown>;
  usageDetails?: Record<string, unknown>;
  completionStartTime?: string;
  startTime?: string;
  endTime?: string;
  metadata?: Record<string, unknown>;
}

/** One event of an ingestion batch: `trace-create`, `span-create`, `span-update`, `generation-create`... */
export interface IngestedEvent {
  id: string;
  type: string;
  timestamp: string;
  body: IngestedBody;
}

/**
 * A loopback Langfuse API answering the v3 SDK's batch endpoint, `POST /api/public/ingestion`
 * (`{ batch: IngestedEvent[], metadata }`), with a 207 that accepts every event, as Langfuse does. The
 * events are kept in the order they arrived.
 */
export class LoopbackLangfuse {
  readonly events: IngestedEvent[] = [];
  /** Requests to any other path, which the SDK is not expected to make. */
  readonly unexpected: string[] = [];
  private server: Server | undefined;

  /** Starts listening on 127.0.0.1 and resolves with the base URL to give the SDK. */
  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const { status, body } = this.answer(`${request.method ?? ''} ${request.url ?? ''}`, Buffer.concat(chunks));
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Stops listening and closes the connections the SDK keeps open. */
  async stop(): Promise<void> {
    // The SDK's fetch keeps connections alive; close them so that the server can stop at once.
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private answer(request: string, body: Buffer): { status: number; body: unknown } {
    if (request === 'POST /api/public/ingestion') {
      const { batch } = JSON.parse(body.toString('utf8')) as { batch: IngestedEvent[] };
      this.events.push(...batch);
      return { status: 207, body: { successes: batch.map((event) => ({ id: event.id, status: 201 })), errors: [] } };
    }
    this.unexpected.push(request);
    return { status: 404, body: { message: `Not found: ${request}` } };
  }
}

/**
 * Loads `langfuse-langchain` inside Jest. On Node, langfuse-core starts a dynamic `import()` of `fs` and
 * `crypto` as it loads (for media uploads, which the specs do not use); Jest's CommonJS sandbox cannot run
 * `import()` without `--experimental-vm-modules`, and the rejected promise, which the package leaves
 * unhandled, fails the spec file. While the package loads, the sandbox's own copy of `process` hides
 * `versions.node`, so that langfuse-core takes its edge-runtime branch (Web Crypto, no `fs`) instead.
 */
export function loadLangfuseLangChain(): typeof LangfuseLangChain {
  const versions = Object.getOwnPropertyDescriptor(process, 'versions');
  if (versions === undefined) throw new Error('process.versions is missing');
  Object.defineProperty(process, 'versions', { ...versions, value: { ...process.versions, node: undefined } });
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('langfuse-langchain') as typeof LangfuseLangChain;
  } finally {
    Object.defineProperty(process, 'versions', versions);
  }
}
