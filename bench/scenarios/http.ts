import autocannon from 'autocannon';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { lastCpu, pinThisProcess } from '../harness/affinity';
import type { Scenario, ScenarioReport } from '../harness/report';
import { formatCount, formatRatio, median, plural } from '../harness/stats';
import { ROOT } from '../harness/worker';
import type { BenchSizes } from '../settings';
import type { AddressInfo } from 'node:net';
import { serve, type HttpServerVariant } from '../workers/http-server';

const TARGET_RATIO = 0.9;

// Per framework: without anything, with callscope's request scope (the target), and with only a bare
// AsyncLocalStorage context per request (a reference: the part of the cost any request context kept in an
// AsyncLocalStorage pays, before callscope does anything). Loaded in this order, reversed every other window,
// so each variant is timed next to its neighbours.
const VARIANTS: readonly (HttpServerVariant & { readonly label: string })[] = [
  { framework: 'node:http', scope: 'none', label: 'node:http' },
  { framework: 'node:http', scope: 'callscope', label: 'node:http + withRunScope' },
  { framework: 'node:http', scope: 'async-local-storage', label: 'node:http + AsyncLocalStorage.run only' },
  { framework: 'express', scope: 'none', label: 'Express 5' },
  { framework: 'express', scope: 'callscope', label: 'Express 5 + runScope' },
  { framework: 'express', scope: 'async-local-storage', label: 'Express 5 + AsyncLocalStorage middleware only' },
];

/** Clock ticks per second of /proc/<pid>/stat's CPU times, or `undefined` where there is no /proc. */
const CLOCK_TICKS: number | undefined = (() => {
  if (process.platform !== 'linux') return undefined;
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user and system, ms) the process `pid` has used so far, from /proc; `undefined` where unreadable. */
function processCpuMs(pid: number | undefined): { user: number; system: number } | undefined {
  if (CLOCK_TICKS === undefined || pid === undefined) return undefined;
  try {
    // "pid (comm) state ppid ... utime stime ...": fields 14 and 15, counted after the command's closing paren.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return { user: (Number(fields[11]) * 1000) / CLOCK_TICKS, system: (Number(fields[12]) * 1000) / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

/**
 * Where the load generator and the servers run. On Linux with two CPUs or more (and `taskset`), the bench
 * process, which runs autocannon, is pinned to the first CPU and every server to the last one for the
 * scenario, its own CPU mask restored after: left to the scheduler, client and server kept trading CPUs. On
 * this 2-core machine, four processes of the same server loaded in turn were up to 13% apart in requests per
 * second unpinned and within 3% pinned; rounds of fresh processes still differ more than that, hence several
 * rounds. Elsewhere nothing is pinned, and the report says so.
 */
export interface Placement {
  /** The CPU every server process is pinned to, or `undefined` when nothing is pinned. */
  readonly serverCpu: number | undefined;
  /** Puts the bench process back on the CPUs it had. */
  readonly restore: () => void;
  /** How client and servers were placed, for the report. */
  readonly note: string;
}

export function placeOnCpus(): Placement {
  const serverCpu = lastCpu();
  const cpus = serverCpu + 1;
  const pinned = pinThisProcess(0, 'all');
  if (pinned.cpus === undefined) {
    return { serverCpu: undefined, restore: () => undefined, note: `Client and servers were not pinned to CPUs (${pinned.why ?? 'unknown'}).` };
  }
  return {
    serverCpu,
    restore: pinned.restore,
    note: `autocannon (in the bench process) was pinned to CPU 0 and every server process to CPU ${serverCpu}, with \`taskset\`: one CPU each, as the two would share ${cpus} cores anyway, without the scheduler moving them.`,
  };
}

/** Starts bench/workers/http-server.ts with one server per variant; resolves with their URLs and a stop function. */
async function startServers(variants: readonly HttpServerVariant[], cpu?: number): Promise<{ urls: string[]; pid: number | undefined; stop: () => Promise<void> }> {
  const script = path.join(ROOT, 'bench', 'workers', 'http-server.ts');
  const input = { variants: variants.map(({ framework, scope }) => ({ framework, scope })) };
  const args = ['--import', 'tsx', script, JSON.stringify(input)];
  const child =
    cpu === undefined
      ? spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
      : spawn('taskset', ['-c', String(cpu), process.execPath, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit');
  const ports = await new Promise<number[]>((resolve, reject) => {
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.includes('\n')) resolve((JSON.parse(stdout.split('\n')[0] as string) as { ports: number[] }).ports);
    });
    void exited.then(() => reject(new Error(`http-server worker exited before listening:\n${stderr}`)));
  });
  return {
    urls: ports.map((port) => `http://127.0.0.1:${port}/`),
    // taskset execs node in place: the same process.
    pid: child.pid,
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

/** Requests per second of one autocannon run against `url`, and how many requests it made; throws if any response failed. */
async function load(url: string, sizes: BenchSizes['http']): Promise<{ rate: number; requests: number }> {
  const result = await autocannon({
    url,
    connections: sizes.connections,
    ...(sizes.amount === undefined ? { duration: sizes.durationSeconds } : { amount: sizes.amount }),
  });
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
    throw new Error(`${url}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx responses.`);
  }
  return { rate: result.requests.total / (result.duration || 1), requests: result.requests.total };
}

/** http: requests per second of a trivial route with and without the request scope, node:http and Express. */
export const httpScope: Scenario<BenchSizes> = {
  name: 'http',
  async run(sizes): Promise<ScenarioReport> {
    const rates = new Map<string, number[]>(VARIANTS.map((variant) => [variant.label, []]));
    // Server CPU time (user + system) and requests over all timed windows, per variant (Linux only).
    const cpu = new Map<string, { user: number; system: number; requests: number }>(VARIANTS.map((variant) => [variant.label, { user: 0, system: 0, requests: 0 }]));
    let cpuMeasured = CLOCK_TICKS !== undefined;
    if (sizes.http.amount !== undefined) {
      // Smoke: every variant in this process (no process to start), one short load each; only that it runs
      // and that every response is a 2xx.
      for (const variant of VARIANTS) {
        const server = await serve(variant);
        try {
          rates.get(variant.label)?.push((await load(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, sizes.http)).rate);
        } finally {
          server.closeAllConnections();
          server.close();
        }
      }
    }
    const placement = sizes.http.amount === undefined ? placeOnCpus() : undefined;
    try {
      for (let round = 0; sizes.http.amount === undefined && round < sizes.http.rounds; round++) {
        // Each variant has a process of its own (an AsyncLocalStorage in use slows every promise of its process,
        // scoped or not), started once per round; only the one being loaded is busy. Two processes of the same
        // server differ by a few percent, so fresh processes every round; and this machine's throughput drifts
        // within seconds, so the two variants of a pair are timed in short windows back to back, the order
        // alternating, and each window pair gives one ratio.
        const servers = await Promise.all(VARIANTS.map((variant) => startServers([variant], placement?.serverCpu)));
        try {
          for (const server of servers) await load(server.urls[0] as string, { ...sizes.http, durationSeconds: 1 }); // warm-up
          for (let window = 0; window < sizes.http.windows; window++) {
            const order = VARIANTS.map((_, index) => index);
            if ((window + round) % 2 === 1) order.reverse();
            for (const index of order) {
              const variant = VARIANTS[index] as (typeof VARIANTS)[number];
              const server = servers[index];
              const before = processCpuMs(server?.pid);
              const { rate, requests } = await load(server?.urls[0] as string, sizes.http);
              const after = processCpuMs(server?.pid);
              rates.get(variant.label)?.push(rate);
              const total = cpu.get(variant.label);
              if (before === undefined || after === undefined || total === undefined) cpuMeasured = false;
              else {
                total.user += after.user - before.user;
                total.system += after.system - before.system;
                total.requests += requests;
              }
            }
          }
        } finally {
          for (const server of servers) await server.stop();
        }
      }
    } finally {
      placement?.restore();
    }
    const medianOf = (label: string): number => median(rates.get(label) ?? []);
    // The throughput of this shared 2-core machine drifts by a factor of two within a minute, so the target
    // reads the median of the windows' paired ratios (the two variants of a pair timed back to back), which
    // drift moves much less than it moves a ratio of medians over all windows.
    const windowRatios = (plain: string, scoped: string): number[] => {
      const plainRates = rates.get(plain) ?? [];
      return (rates.get(scoped) ?? []).map((rate, window) => rate / (plainRates[window] ?? Number.NaN));
    };
    const cpuPerRequest = (label: string): string => {
      const total = cpu.get(label);
      if (!cpuMeasured || total === undefined || total.requests === 0) return 'n/a';
      const perRequest = (ms: number): string => ((ms * 1000) / total.requests).toFixed(1);
      return `${perRequest(total.user)} + ${perRequest(total.system)} µs`;
    };
    const labelOf = (framework: HttpServerVariant['framework'], scope: HttpServerVariant['scope']): string =>
      (VARIANTS.find((variant) => variant.framework === framework && variant.scope === scope) as (typeof VARIANTS)[number]).label;
    const frameworks = (['node:http', 'express'] as const).map((framework) => ({
      name: labelOf(framework, 'none'),
      plain: labelOf(framework, 'none'),
      scoped: labelOf(framework, 'callscope'),
      reference: labelOf(framework, 'async-local-storage'),
    }));
    const measured = sizes.http.amount === undefined ? `${sizes.http.durationSeconds} s` : `${formatCount(sizes.http.amount)} requests`;
    const pairedRatio = (plain: string, other: string): string => formatRatio(median(windowRatios(plain, other)));
    return {
      name: 'http',
      description:
        `A trivial route (\`GET /\` → \`ok\`) served on 127.0.0.1 by a server process of its own, loaded by autocannon (${sizes.http.connections} connections, ` +
        `${measured} per window after a one-second warm-up) from the bench process; without anything, with callscope's request scope (no handlers: the cost of the scope itself), and, for reference, with only a bare \`AsyncLocalStorage\` context per request; ` +
        `${plural(sizes.http.rounds, 'round')} of fresh server processes, each with ${plural(sizes.http.windows, 'window')} per variant in alternating order; medians of requests per second, and for the targets the median of the windows' paired ratios (the variants of a pair loaded back to back in every window).`,
      tables: [
        {
          headers: ['server', 'requests/s (median)', 'server CPU per request (user + system)', 'each window'],
          rows: VARIANTS.map((variant) => [
            variant.label,
            formatCount(medianOf(variant.label)),
            cpuPerRequest(variant.label),
            (rates.get(variant.label) ?? []).map((rate) => formatCount(rate)).join(', '),
          ]),
        },
        {
          headers: ['framework', 'AsyncLocalStorage only / without (reference)', 'callscope\'s scope / without (target)', 'callscope\'s scope / AsyncLocalStorage only'],
          rows: frameworks.map((framework) => [
            framework.name,
            pairedRatio(framework.plain, framework.reference),
            pairedRatio(framework.plain, framework.scoped),
            pairedRatio(framework.reference, framework.scoped),
          ]),
        },
      ],
      targets: frameworks.map((framework) => {
        const ratios = windowRatios(framework.plain, framework.scoped);
        const ratio = median(ratios);
        return {
          target: `http: ${framework.name} with the scope at least ${TARGET_RATIO}× the requests/s without it`,
          observed: `${formatRatio(ratio)} (median of ${ratios.length} windows' paired ratios, from ${formatRatio(Math.min(...ratios))} to ${formatRatio(Math.max(...ratios))}; medians ${formatCount(medianOf(framework.scoped))} vs ${formatCount(medianOf(framework.plain))} requests/s)`,
          pass: ratio >= TARGET_RATIO,
        };
      }),
      notes: [
        'With the scope (or the bare context) the route answers 500 unless it is active there; every measurement had no errors and only 2xx responses, so every request ran in its run.',
        placement?.note ?? 'Smoke run: client and servers in this process, not pinned.',
        'Client and server share the machine. The ratio, from the same windows, is the figure to read. When autocannon rather than the server limits a window, the variants show about the same rate and the ratio moves towards 1; the server\'s CPU time per request (its user and system time over all timed windows, from /proc, divided by its requests) reflects the cost either way. Its system part is mostly socket reads and writes; on this virtual machine a write that must wake an idle client costs more, so that part grows when the server slows, the more so the more room the client has: the user part is the closer measure of the work a variant adds.',
        'The reference rows enter a fresh object with `AsyncLocalStorage.run` per request and do nothing else (no run, no id, no end hook): what any request context kept in an AsyncLocalStorage costs before its own work. For Express this includes being one more middleware.',
      ],
    };
  },
};
