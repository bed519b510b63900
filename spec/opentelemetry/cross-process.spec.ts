import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { z } from 'zod';
import { RunCollector, RunnableLambda, tool, type CollectedRun } from '../../lib';
import { injectRunContext, OpenTelemetryTracer } from '../../lib/opentelemetry';
import { parentSpanId, useOpenTelemetry } from '../helpers/opentelemetry';
import type { ExportedSpan, ReportedRun, ServerReply } from './fixtures/opentelemetry-server';

const root = path.resolve(__dirname, '../..');
const otel = useOpenTelemetry();

let server: ChildProcessWithoutNullStreams;
let port: number;

/** Starts the server process and resolves with the port it printed; rejects if it dies first. */
function startServer(): Promise<number> {
  server = spawn(process.execPath, ['-r', 'tsx/cjs', 'spec/opentelemetry/fixtures/opentelemetry-server.ts'], { cwd: root });
  let stdout = '';
  let stderr = '';
  server.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    server.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line !== undefined) resolve((JSON.parse(line) as { port: number }).port);
    });
    server.on('error', reject);
    server.on('exit', (code) => reject(new Error(`server exited with ${code} before printing its port: ${stderr}`)));
  });
}

beforeAll(async () => {
  port = await startServer();
});

afterAll(async () => {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = once(server, 'exit');
  server.stdin.end();
  server.kill();
  await exited;
});

/** The client side: `agent` (lambda) → `ask_weather_service` (tool), which POSTs to the server. */
function client(options: { inject: boolean }) {
  const ask = tool(
    async ({ city }) => {
      const headers = { 'content-type': 'application/json' };
      const response = await fetch(`http://127.0.0.1:${port}/forecast`, {
        method: 'POST',
        headers: options.inject ? injectRunContext(headers) : headers,
        body: JSON.stringify({ city }),
      });
      if (!response.ok) throw new Error(`server answered ${response.status}: ${await response.text()}`);
      return (await response.json()) as ServerReply;
    },
    { name: 'ask_weather_service', description: 'Asks the weather service', schema: z.object({ city: z.string() }) },
  );
  return RunnableLambda.from(async (city: string) => ask.invoke({ city }), { name: 'agent' });
}

async function callServer(options: { inject: boolean }) {
  const collector = new RunCollector();
  const reply = await client(options).invoke('Lisbon', { callbacks: [new OpenTelemetryTracer({ tracer: otel.tracer }), collector] });
  return { reply, clientRuns: collector.allRuns() };
}

function named<T extends { name: string }>(items: readonly T[], name: string): T {
  const found = items.find((item) => item.name === name);
  if (found === undefined) throw new Error(`nothing named ${name} in ${items.map((item) => item.name).join(', ')}`);
  return found;
}

describe('run context across processes (injectRunContext → HTTP → extractRunContext)', () => {
  it("puts both processes' spans in one trace, the server's under the client's tool span", async () => {
    const { reply } = await callServer({ inject: true });
    const clientSpans = otel.spans();
    expect(reply.output).toBe('Sunny, 24 degrees');
    expect(clientSpans.map((span) => span.name)).toEqual(['ask_weather_service', 'agent']);
    expect(reply.spans.map((span) => span.name)).toEqual(['FakeChatModel', 'summarize', 'remote_forecast']);

    const traceIds = new Set([...clientSpans.map((span) => span.spanContext().traceId), ...reply.spans.map((span) => span.traceId)]);
    expect(traceIds.size).toBe(1);

    const toolSpan = otel.span('ask_weather_service');
    const remoteRoot = named<ExportedSpan>(reply.spans, 'remote_forecast');
    const remoteLambda = named<ExportedSpan>(reply.spans, 'summarize');
    const remoteModel = named<ExportedSpan>(reply.spans, 'FakeChatModel');
    expect(parentSpanId(toolSpan)).toBe(otel.span('agent').spanContext().spanId);
    expect(remoteRoot.parentSpanId).toBe(toolSpan.spanContext().spanId);
    expect(remoteLambda.parentSpanId).toBe(remoteRoot.spanId);
    expect(remoteModel.parentSpanId).toBe(remoteLambda.spanId);
  });

  it("makes the server's root run a child of the client's tool run, and its nested runs line up", async () => {
    const { reply, clientRuns } = await callServer({ inject: true });
    const toolRun = named<CollectedRun>(clientRuns, 'ask_weather_service');
    const remoteRoot = named<ReportedRun>(reply.runs, 'remote_forecast');
    const remoteLambda = named<ReportedRun>(reply.runs, 'summarize');
    const remoteModel = named<ReportedRun>(reply.runs, 'FakeChatModel');
    expect(remoteRoot.parentRunId).toBe(toolRun.id);
    expect(remoteLambda.parentRunId).toBe(remoteRoot.id);
    expect(remoteModel.parentRunId).toBe(remoteLambda.id);

    // Each server span names its run, and its parent run is the run of its parent span.
    for (const span of reply.spans) {
      const run = reply.runs.find((candidate) => candidate.id === span.attributes['callscope.run_id']);
      expect(run?.name).toBe(span.name);
      expect(span.attributes['callscope.parent_run_id']).toBe(run?.parentRunId);
    }
    expect(named<ExportedSpan>(reply.spans, 'remote_forecast').attributes['callscope.parent_run_id']).toBe(toolRun.id);
  });

  it('keeps the processes apart when the client does not inject: the server starts its own trace and root run', async () => {
    const { reply } = await callServer({ inject: false });
    const clientTrace = otel.span('agent').spanContext().traceId;
    const remoteRoot = named<ExportedSpan>(reply.spans, 'remote_forecast');
    expect(remoteRoot.parentSpanId).toBeUndefined();
    expect(remoteRoot.traceId).not.toBe(clientTrace);
    expect(named<ReportedRun>(reply.runs, 'remote_forecast').parentRunId).toBeUndefined();
  });
});
