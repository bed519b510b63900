import autocannon from 'autocannon';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import type { Scenario, ScenarioReport } from '../harness/report';
import { formatCount, formatRatio, median, plural } from '../harness/stats';
import { ROOT } from '../harness/worker';
import type { BenchSizes } from '../settings';
import type { AddressInfo } from 'node:net';
import { serve, type HttpServerVariant } from '../workers/http-server';

const TARGET_RATIO = 0.9;

const VARIANTS: readonly (HttpServerVariant & { readonly label: string })[] = [
  { framework: 'node:http', scoped: false, label: 'node:http' },
  { framework: 'node:http', scoped: true, label: 'node:http + withRunScope' },
  { framework: 'express', scoped: false, label: 'Express 5' },
  { framework: 'express', scoped: true, label: 'Express 5 + runScope' },
];

/**
 * Where the load generator and the servers run. On Linux with two CPUs or more (and `taskset`), the bench
 * process, which runs autocannon, is pinned to the first CPU and every server to the last one for the
 * scenario, its own CPU mask restored after: left to the scheduler, client and server kept trading CPUs. On
 * this 2-core machine, four processes of the same server loaded in turn were up to 13% apart in requests per
 * second unpinned and within 3% pinned; rounds of fresh processes still differ more than that, hence several
 * rounds. Elsewhere nothing is pinned, and the report says so.
 */
interface Placement {
  /** The CPU every server process is pinned to, or `undefined` when nothing is pinned. */
  readonly serverCpu: number | undefined;
  /** Puts the bench process back on the CPUs it had. */
  readonly restore: () => void;
  /** How client and servers were placed, for the report. */
  readonly note: string;
}

function placeOnCpus(): Placement {
  const cpus = os.availableParallelism();
  const unpinned = (why: string): Placement => ({ serverCpu: undefined, restore: () => undefined, note: `Client and servers were not pinned to CPUs (${why}).` });
  if (process.platform !== 'linux' || cpus < 2) return unpinned(process.platform !== 'linux' ? 'not Linux' : 'one CPU');
  let previous: string;
  try {
    // "pid 123's current affinity list: 0,1"
    previous = execFileSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' }).trim().split(': ').pop() ?? '';
    execFileSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });
  } catch {
    return unpinned('taskset is not available');
  }
  const serverCpu = cpus - 1;
  return {
    serverCpu,
    restore: () => execFileSync('taskset', ['-a', '-cp', previous, String(process.pid)], { stdio: 'ignore' }),
    note: `autocannon (in the bench process) was pinned to CPU 0 and every server process to CPU ${serverCpu}, with \`taskset\`: one CPU each, as the two would share ${cpus} cores anyway, without the scheduler moving them.`,
  };
}

/** Starts bench/workers/http-server.ts with one server per variant; resolves with their URLs and a stop function. */
async function startServers(variants: readonly HttpServerVariant[], cpu?: number): Promise<{ urls: string[]; stop: () => Promise<void> }> {
  const script = path.join(ROOT, 'bench', 'workers', 'http-server.ts');
  const input = { variants: variants.map(({ framework, scoped }) => ({ framework, scoped })) };
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
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

/** Requests per second of one autocannon run against `url`; throws if any response failed. */
async function load(url: string, sizes: BenchSizes['http']): Promise<number> {
  const result = await autocannon({
    url,
    connections: sizes.connections,
    ...(sizes.amount === undefined ? { duration: sizes.durationSeconds } : { amount: sizes.amount }),
  });
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
    throw new Error(`${url}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx responses.`);
  }
  return result.requests.total / (result.duration || 1);
}

/** http: requests per second of a trivial route with and without the request scope, node:http and Express. */
export const httpScope: Scenario<BenchSizes> = {
  name: 'http',
  async run(sizes): Promise<ScenarioReport> {
    const rates = new Map<string, number[]>(VARIANTS.map((variant) => [variant.label, []]));
    if (sizes.http.amount !== undefined) {
      // Smoke: every variant in this process (no process to start), one short load each; only that it runs
      // and that every response is a 2xx.
      for (const variant of VARIANTS) {
        const server = await serve(variant);
        try {
          rates.get(variant.label)?.push(await load(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, sizes.http));
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
            const order = (window + round) % 2 === 0 ? [0, 1, 2, 3] : [1, 0, 3, 2];
            for (const index of order) {
              const variant = VARIANTS[index] as (typeof VARIANTS)[number];
              rates.get(variant.label)?.push(await load(servers[index]?.urls[0] as string, sizes.http));
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
    const pairs = [
      { name: 'node:http', plain: medianOf('node:http'), scoped: medianOf('node:http + withRunScope'), ratios: windowRatios('node:http', 'node:http + withRunScope') },
      { name: 'Express 5', plain: medianOf('Express 5'), scoped: medianOf('Express 5 + runScope'), ratios: windowRatios('Express 5', 'Express 5 + runScope') },
    ];
    const measured = sizes.http.amount === undefined ? `${sizes.http.durationSeconds} s` : `${formatCount(sizes.http.amount)} requests`;
    return {
      name: 'http',
      description:
        `A trivial route (\`GET /\` → \`ok\`) served on 127.0.0.1 by a server process of its own, loaded by autocannon (${sizes.http.connections} connections, ` +
        `${measured} per window after a one-second warm-up) from the bench process; with and without callscope's request scope (no handlers: the cost of the scope itself); ` +
        `${plural(sizes.http.rounds, 'round')} of fresh server processes, each with ${plural(sizes.http.windows, 'window')} per variant in alternating order; medians of requests per second, and for the targets the median of the windows' paired ratios (the two variants of a pair loaded back to back in every window).`,
      tables: [
        {
          headers: ['server', 'requests/s (median)', 'each window'],
          rows: VARIANTS.map((variant) => [
            variant.label,
            formatCount(medianOf(variant.label)),
            (rates.get(variant.label) ?? []).map((rate) => formatCount(rate)).join(', '),
          ]),
        },
      ],
      targets: pairs.map((pair) => {
        const ratio = median(pair.ratios);
        return {
          target: `http: ${pair.name} with the scope at least ${TARGET_RATIO}× the requests/s without it`,
          observed: `${formatRatio(ratio)} (median of ${pair.ratios.length} windows' paired ratios, from ${formatRatio(Math.min(...pair.ratios))} to ${formatRatio(Math.max(...pair.ratios))}; medians ${formatCount(pair.scoped)} vs ${formatCount(pair.plain)} requests/s)`,
          pass: ratio >= TARGET_RATIO,
        };
      }),
      notes: [
        'With the scope the route answers 500 unless the request run is active in its context; every measurement had no errors and only 2xx responses, so every request ran in its run.',
        placement?.note ?? 'Smoke run: client and servers in this process, not pinned.',
        'Client and server share the machine. The ratio, from the same windows, is the figure to read.',
      ],
    };
  },
};
