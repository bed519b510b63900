import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import path from 'node:path';
import { listen } from '../helpers/listen';

// The README's "Sending spans to a collector" setup, for real: a server process with the request scope and an
// OpenTelemetryTracer (fixtures/otlp-server.ts) exports through the OTLP/HTTP exporter (JSON) and a
// BatchSpanProcessor to a receiver this test runs on 127.0.0.1, which speaks OTLP/HTTP's POST /v1/traces.

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: number | string; boolValue?: boolean };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: OtlpAttribute[];
}
interface OtlpRequest {
  resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
}

/** A minimal OTLP/HTTP receiver: keeps every JSON body posted to /v1/traces. */
function receiver() {
  const bodies: OtlpRequest[] = [];
  const contentTypes: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        contentTypes.push(req.headers['content-type'] ?? '');
        bodies.push(JSON.parse(body) as OtlpRequest);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else res.writeHead(404).end();
    });
  });
  return { server, bodies, contentTypes, spans: () => bodies.flatMap((b) => b.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))) };
}

function attribute(span: OtlpSpan, key: string): unknown {
  const value = span.attributes.find((entry) => entry.key === key)?.value;
  return value?.stringValue ?? value?.intValue ?? value?.boolValue;
}

const root = path.resolve(__dirname, '../..');

/** Starts the server process, exporting to `otlpUrl`; resolves with its origin and a graceful stop. */
async function startServer(otlpUrl: string) {
  const child = spawn(process.execPath, ['-r', 'tsx/cjs', 'spec/opentelemetry/fixtures/otlp-server.ts', otlpUrl], { cwd: root });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit');
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.includes('\n')) resolve((JSON.parse(stdout.split('\n')[0] as string) as { port: number }).port);
    });
    void exited.then(([code]) => reject(new Error(`the server exited with ${String(code)} before listening: ${stderr}`)));
  });
  return {
    origin: `http://127.0.0.1:${port}`,
    /** Closes the server's stdin: it stops its HTTP server, shuts its provider down and exits. */
    stop: async (): Promise<number | null> => {
      child.stdin.end();
      const [code] = (await exited) as [number | null];
      if (code !== 0) throw new Error(`the server exited with ${String(code)}: ${stderr}`);
      return code;
    },
  };
}

describe('exporting request traces through the OTLP/HTTP exporter', () => {
  it("sends each request's spans, forming its trace, when the provider shuts down with the server", async () => {
    const collector = receiver();
    const otlp = await listen(collector.server);
    const api = await startServer(`${otlp.origin}/v1/traces`);

    const callers = ['1', '2', '3'].map((n) => ({ id: `otlp-${n}`, traceId: n.repeat(32), spanId: n.repeat(16) }));
    try {
      for (const caller of callers) {
        const response = await fetch(`${api.origin}/answer/${caller.id}`, { headers: { traceparent: `00-${caller.traceId}-${caller.spanId}-01` } });
        expect(await response.text()).toBe(`Answer for ${caller.id} is ready`);
      }
    } finally {
      // Graceful stop: the server first, then provider.shutdown(), which exports what the batch still holds.
      expect(await api.stop()).toBe(0);
      await otlp.close();
    }

    expect(collector.contentTypes.length).toBeGreaterThan(0);
    expect(collector.contentTypes.every((type) => type.startsWith('application/json'))).toBe(true);
    const spans = collector.spans();
    expect(spans).toHaveLength(callers.length * 4);
    for (const caller of callers) {
      const trace = spans.filter((span) => span.traceId === caller.traceId);
      const byName = (name: string): OtlpSpan => {
        const found = trace.filter((span) => span.name === name);
        expect(found).toHaveLength(1);
        return found[0] as OtlpSpan;
      };
      const request = byName(`GET /answer/${caller.id}`);
      const tool = byName('lookup');
      const lambda = byName('summarize');
      const model = byName('FakeChatModel');
      expect(trace).toHaveLength(4);
      expect(request.parentSpanId).toBe(caller.spanId);
      expect(tool.parentSpanId).toBe(request.spanId);
      expect(lambda.parentSpanId).toBe(tool.spanId);
      expect(model.parentSpanId).toBe(lambda.spanId);
      expect(attribute(request, 'callscope.run_type')).toBe('chain');
      expect(attribute(tool, 'gen_ai.operation.name')).toBe('execute_tool');
      expect(attribute(tool, 'gen_ai.tool.name')).toBe('lookup');
      expect(attribute(model, 'gen_ai.operation.name')).toBe('chat');
      expect(attribute(model, 'callscope.run_type')).toBe('llm');
    }
  });
});
