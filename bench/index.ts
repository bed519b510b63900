/**
 * callscope's benchmark suite: callscope side by side with @langchain/core and a hand-written floor.
 *
 *   npm run bench                      every scenario, full size; rewrites bench/RESULTS.md
 *   npm run bench -- nested-3 tokens   only those scenarios; RESULTS.md is left alone
 *   npm run bench:smoke                every scenario with tiny counts, in seconds (CI); no RESULTS.md
 *
 * `BENCH_SMOKE=1` is the same as `--smoke`; `BENCH_MEMORY_INVOKES=n` changes the memory scenario's count.
 * A verification failure (a handler missing events, a wrong token count) exits non-zero. Missed targets
 * do not: they are facts to record, marked FAIL.
 */
// First: LangChain reads its background-callbacks switch from the environment.
import { measuredBuild } from './target';
import './pipelines/langchain-env';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
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

async function main(): Promise<void> {
  const args = process.argv.slice(2);
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
    const report = await scenario.run(settings.sizes);
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
  writeFileSync(RESULTS_FILE, resultsMarkdown(environment, ending, reports) + keptSoakSection());
  console.log(`\nWrote ${path.relative(ROOT, RESULTS_FILE)}.`);
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
