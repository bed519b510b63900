import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A run as LangSmith received it: the create and every update merged. */
export interface PostedRun {
  id: string;
  name: string;
  run_type: string;
  parent_run_id?: string;
  dotted_order: string;
  trace_id: string;
  inputs?: unknown;
  outputs?: unknown;
  error?: string;
  events?: { name: string }[];
  extra?: { metadata?: Record<string, unknown> };
}

/**
 * A loopback LangSmith API: `/info` (multipart ingestion on, no compression), `/runs/multipart` (form
 * fields `post.<id>`, `patch.<id>`, `post.<id>.inputs`...) and `/runs/batch` (`{ post, patch }`).
 */
export class LoopbackLangSmith {
  readonly runs = new Map<string, PostedRun>();
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        void this.answer(request.url ?? '', String(request.headers['content-type'] ?? ''), Buffer.concat(chunks)).then((body) => {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify(body));
        });
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private async answer(url: string, contentType: string, body: Buffer): Promise<unknown> {
    if (url.startsWith('/info')) return { version: 'loopback', batch_ingest_config: { use_multipart_endpoint: true } };
    if (url.startsWith('/runs/multipart')) {
      const form = await new Response(Uint8Array.from(body), { headers: { 'content-type': contentType } }).formData();
      for (const [field, value] of form.entries()) {
        const text = typeof value === 'string' ? value : await value.text();
        const [, id, part] = field.split('.');
        if (id === undefined) continue;
        this.merge(id, part === undefined ? (JSON.parse(text) as Partial<PostedRun>) : { [part]: JSON.parse(text) as unknown });
      }
      return {};
    }
    if (url.startsWith('/runs/batch')) {
      const batch = JSON.parse(body.toString('utf8')) as { post?: PostedRun[]; patch?: PostedRun[] };
      for (const run of [...(batch.post ?? []), ...(batch.patch ?? [])]) this.merge(run.id, run);
      return {};
    }
    return {};
  }

  private merge(id: string, fields: Partial<PostedRun>): void {
    this.runs.set(id, { ...this.runs.get(id), ...fields, id } as PostedRun);
  }
}

