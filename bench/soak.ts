/**
 * `npm run soak`: a long run of the request scope under load, not part of `npm test`.
 *
 * An Express server (bench/workers/soak-server.ts, its own process) streams a tool → lambda → model pipeline
 * as server-sent events, with background delivery to a JsonlTracer and an OpenTelemetryTracer. autocannon
 * loads it for SOAK_SECONDS (180 by default) with 18 connections, while 2 more clients (10% of the 20)
 * disconnect from every response mid-stream. Then it checks:
 *
 * - every request the server handled has its runs in the JSONL file exactly once (counted by request id):
 *   one root per request, no run id twice, 4 runs for a completed request;
 * - no run lacks its end or error line: every run's parent has a line too, and every aborted request ended
 *   with an AbortError;
 * - every response autocannon received complete has its request in the file, ended with status 200;
 * - the server's RSS grows by less than 20 MB after warm-up (the first sixth of the run), from the first sample
 *   after it to the last, each taken after a forced collection;
 *
 * and reports p50/p99 latency. The last line says PASS or FAIL (and the exit code is non-zero on FAIL). A run of
 * the full 180 s (or more) records its figures in bench/RESULTS.md, in a section of its own.
 */
import autocannon from 'autocannon';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SOAK_END, SOAK_START } from './soak-section';
import type { SoakCommand, SoakReport } from './workers/soak-server';

const SECONDS = Number(process.env.SOAK_SECONDS ?? '180');
const CONNECTIONS = 18;
const DISCONNECTING_CLIENTS = 2;
const RSS_LIMIT_MB = 20;

interface JsonlLine {
  id: string;
  parentRunId: string | null;
  name: string;
  outputs: unknown;
  error: { name: string } | null;
  metadata: { requestId?: string };
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

async function main(): Promise<void> {
  if (!Number.isFinite(SECONDS) || SECONDS <= 0) throw new Error(`Expected SOAK_SECONDS to be a positive number, got ${JSON.stringify(process.env.SOAK_SECONDS)}.`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'callscope-soak-'));
  const jsonlPath = path.join(dir, 'runs.jsonl');
  const server = fork(path.join(__dirname, 'workers', 'soak-server.ts'), [jsonlPath], { execArgv: ['--expose-gc', '--import', 'tsx'], stdio: 'inherit' });
  const next = (type: SoakReport['type']): Promise<SoakReport> =>
    new Promise((resolve) => {
      const onMessage = (report: SoakReport): void => {
        if (report.type !== type) return;
        server.off('message', onMessage);
        resolve(report);
      };
      server.on('message', onMessage);
    });
  const ask = async <T extends SoakReport>(command: SoakCommand, type: T['type']): Promise<T> => {
    const reply = next(type);
    server.send(command);
    return (await reply) as T;
  };

  const { port } = (await next('listening')) as Extract<SoakReport, { type: 'listening' }>;
  const url = `http://127.0.0.1:${port}/chat`;
  console.log(`soak: ${SECONDS} s against ${url}, ${CONNECTIONS} autocannon connections + ${DISCONNECTING_CLIENTS} clients that disconnect mid-stream`);

  // RSS of the server, sampled every second.
  const rss: { at: number; rss: number }[] = [];
  const started = Date.now();
  const sampler = setInterval(() => {
    void ask<Extract<SoakReport, { type: 'rss' }>>({ type: 'rss' }, 'rss').then((reply) => rss.push({ at: (Date.now() - started) / 1000, rss: reply.rss }));
  }, 1000);

  let counter = 0;
  const completed = new Set<string>();
  const load = autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: [
      {
        // The context is the connection's: it remembers the id of the request in flight on it.
        setupRequest: (request, context) => {
          const id = `ac-${counter++}`;
          (context as { id?: string }).id = id;
          return { ...request, headers: { ...request.headers, 'x-request-id': id } };
        },
        onResponse: (status, body, context) => {
          if (status === 200 && body.includes('event: done')) completed.add((context as { id?: string }).id ?? '');
        },
      },
    ],
  });

  let disconnects = 0;
  const deadline = started + SECONDS * 1000;
  const disconnecting = async (client: number): Promise<void> => {
    while (Date.now() < deadline) {
      const id = `dc-${client}-${disconnects++}`;
      const controller = new AbortController();
      try {
        const response = await fetch(url, { headers: { 'x-request-id': id }, signal: controller.signal });
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        await reader.read(); // the first chunk: the stream has started
        controller.abort();
        await reader.cancel().catch(() => undefined);
      } catch {
        // Aborted: expected.
      }
    }
  };
  const [result] = await Promise.all([load, ...Array.from({ length: DISCONNECTING_CLIENTS }, (_, i) => disconnecting(i))]);
  clearInterval(sampler);
  const drained = (await ask<Extract<SoakReport, { type: 'drained' }>>({ type: 'drain' }, 'drained'));
  await once(server, 'exit');

  // The JSONL file: one line per finished run.
  const lines = readFileSync(jsonlPath, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as JsonlLine);
  rmSync(dir, { recursive: true, force: true });
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const line of lines) {
    if (ids.has(line.id)) problems.push(`run ${line.id} (${line.name}) written twice`);
    ids.add(line.id);
  }
  const orphans = lines.filter((line) => line.parentRunId !== null && !ids.has(line.parentRunId));
  if (orphans.length > 0) problems.push(`${orphans.length} runs whose parent has no line (a run without its end or error line)`);
  const byRequest = new Map<string, JsonlLine[]>();
  for (const line of lines) {
    const requestId = line.metadata.requestId ?? 'missing';
    byRequest.set(requestId, [...(byRequest.get(requestId) ?? []), line]);
  }
  let aborted = 0;
  let abortedAtStop = 0;
  let ok = 0;
  for (const [requestId, runs] of byRequest) {
    const roots = runs.filter((run) => run.parentRunId === null);
    if (roots.length !== 1) {
      problems.push(`request ${requestId}: ${roots.length} root runs`);
      continue;
    }
    const root = roots[0] as JsonlLine;
    if (root.error === null) {
      ok++;
      if (runs.length !== 4) problems.push(`request ${requestId}: ${runs.length} runs, expected 4`);
      if ((root.outputs as { status?: number }).status !== 200) problems.push(`request ${requestId}: status ${JSON.stringify(root.outputs)}`);
    } else if (root.error.name === 'AbortError') {
      aborted++;
      // autocannon closes its connections when the time is up, in the middle of the responses in flight.
      if (!requestId.startsWith('dc-')) abortedAtStop++;
    } else problems.push(`request ${requestId} failed with ${root.error.name}`);
  }
  if (abortedAtStop > CONNECTIONS) problems.push(`${abortedAtStop} autocannon requests aborted, more than the ${CONNECTIONS} in flight when it stopped`);
  if (byRequest.size !== drained.requests) problems.push(`the server handled ${drained.requests} requests, the JSONL file has ${byRequest.size}`);
  const missing = [...completed].filter((id) => {
    const root = byRequest.get(id)?.find((run) => run.parentRunId === null);
    return (root?.outputs as { status?: number } | undefined)?.status !== 200;
  });
  if (missing.length > 0) problems.push(`${missing.length} of the ${completed.size} complete responses have no completed request run in the JSONL file`);
  if (result.errors > 0 || result.non2xx > 0) problems.push(`autocannon: ${result.errors} errors, ${result.non2xx} non-2xx responses`);

  const warmup = SECONDS / 6;
  const after = rss.filter((sample) => sample.at >= warmup);
  const base = after[0]?.rss ?? 0;
  const peak = Math.max(...after.map((sample) => sample.rss)) - base;
  const last = after.at(-1)?.rss ?? 0;
  // Growth: from the first sample after warm-up to the last one, each taken after a forced collection. The peak
  // is reported too: it includes what was in use at that moment (requests in flight, queued events).
  const growth = last - base;
  if (after.length === 0) problems.push('no RSS sample after warm-up');
  else if (growth >= RSS_LIMIT_MB * 1024 * 1024) problems.push(`RSS grew by ${mb(growth)} after warm-up (limit ${RSS_LIMIT_MB} MB)`);

  console.log(`requests: ${drained.requests} handled (${byRequest.size} in the JSONL file: ${ok} completed, ${aborted} aborted by a disconnect, ${abortedAtStop} of them autocannon's in flight when it stopped); ${disconnects} disconnecting requests sent`);
  console.log(`complete SSE responses received by autocannon: ${completed.size}, each found in the JSONL file with status 200 unless reported below`);
  console.log(`runs: ${lines.length} JSONL lines, ${drained.spans} spans exported; autocannon ${result.requests.total} responses, ${(result.requests.total / SECONDS).toFixed(0)} requests/s`);
  console.log(`latency (autocannon): p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms`);
  console.log(`server RSS: ${mb(base)} after warm-up (${warmup.toFixed(0)} s), ${mb(last)} at the end: growth ${mb(growth)} (limit ${RSS_LIMIT_MB} MB); highest sample ${mb(base + peak)} (+${mb(peak)})`);
  if (drained.spans !== lines.length) problems.push(`${drained.spans} spans exported for ${lines.length} runs`);
  for (const problem of problems.slice(0, 20)) console.log(`problem: ${problem}`);
  const pass = problems.length === 0;
  if (SECONDS >= 180) {
    record([
      `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}, load average at the end ${os.loadavg().map((load) => load.toFixed(2)).join(', ')}.`,
      '',
      '| figure | value |',
      '| --- | --- |',
      `| duration | ${SECONDS} s: autocannon with ${CONNECTIONS} connections + ${DISCONNECTING_CLIENTS} clients disconnecting mid-stream |`,
      `| requests handled | ${drained.requests} (${ok} completed, ${aborted} aborted by a disconnect, ${abortedAtStop} of them autocannon's in flight when it stopped; ${disconnects} disconnecting requests sent) |`,
      `| complete SSE responses (autocannon) | ${completed.size}, ${(result.requests.total / SECONDS).toFixed(0)} requests/s |`,
      `| JSONL lines / spans exported | ${lines.length} / ${drained.spans} |`,
      `| latency (autocannon) | p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms |`,
      `| server RSS | ${mb(base)} after warm-up (${warmup.toFixed(0)} s), ${mb(last)} at the end: growth ${mb(growth)} (limit ${RSS_LIMIT_MB} MB); highest sample ${mb(base + peak)} (+${mb(peak)}); samples every second after a forced GC |`,
      `| problems | ${problems.length === 0 ? 'none' : problems.slice(0, 5).join('; ')} |`,
      `| result | ${pass ? 'PASS' : 'FAIL'} |`,
    ]);
  }
  console.log(pass ? 'soak: PASS' : `soak: FAIL (${problems.length} problems)`);
  if (!pass) process.exitCode = 1;
}

/** Writes the soak section of bench/RESULTS.md, replacing the previous one. */
function record(lines: readonly string[]): void {
  const file = path.join(__dirname, 'RESULTS.md');
  const previous = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const section = [
    SOAK_START,
    '## soak',
    '',
    'The request scope under sustained load (`npm run soak`, bench/soak.ts): an Express SSE route running a tool → lambda → streaming model',
    'pipeline per request, background delivery to a JsonlTracer and an OpenTelemetryTracer (in-memory exporter), 10% of the clients',
    'disconnecting mid-stream. Checked: every request\'s runs in the JSONL file exactly once (by request id), no run without its end or',
    'error line, server RSS growth after warm-up under 20 MB.',
    '',
    ...lines,
    SOAK_END,
  ].join('\n');
  const start = previous.indexOf(SOAK_START);
  const end = previous.indexOf(SOAK_END);
  const next = start !== -1 && end > start ? previous.slice(0, start) + section + previous.slice(end + SOAK_END.length) : `${previous.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, next);
  console.log(`Recorded in ${path.relative(process.cwd(), file)}.`);
}

main().catch((error: unknown) => {
  console.error(error);
  console.log('soak: FAIL (the run did not complete)');
  process.exitCode = 1;
});
