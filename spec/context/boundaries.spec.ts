import { writeFileSync } from 'node:fs';
import { configure, RunCollector, RunnableLambda, type CollectedRun, type RunnableConfig } from '../../lib';
import { boundaryCases, type BoundaryCase, type NodeMode, type Outcome } from './boundary-cases';
import { MODES, type BoundaryRow } from './boundary-table';

/**
 * Runs a parent run whose body reaches a child runnable across the case's boundary, and tells whether the
 * child linked to that parent (kept) or not (lost: a root run nobody hears, or a child of another run).
 */
async function probe(boundary: BoundaryCase, mode: NodeMode, remedy: boolean): Promise<Outcome> {
  configure({ propagation: mode });
  try {
    boundary.setup?.();
    const collector = new RunCollector();
    const child = RunnableLambda.from((x: number) => x, { name: 'child' });
    // Filled in by the parent's body: what to run afterwards, and what a remote child reported.
    const state: { later?: void | (() => Promise<void>); remoteParent?: string | null } = { remoteParent: null };
    const parent = RunnableLambda.from(async (_: undefined, config: RunnableConfig) => {
      state.later = await boundary.inside({
        config,
        remedy,
        // In explicit mode the remedy is always to pass the config the function received.
        invokeChild: () => (remedy && mode === 'explicit' ? child.invoke(1, config) : child.invoke(1)),
        recordRemoteChild: (parentRunId) => {
          state.remoteParent = parentRunId;
        },
      });
    }, { name: 'parent' });

    await parent.invoke(undefined, { callbacks: [collector] });
    if (typeof state.later === 'function') await state.later();

    const parentRun = collector.runs.find((run) => run.name === 'parent') as CollectedRun;
    if (state.remoteParent !== null) return state.remoteParent === parentRun.id ? 'kept' : 'lost';
    const linked = parentRun.children.some((run) => run.name === 'child' && run.parentRunId === parentRun.id);
    return linked ? 'kept' : 'lost';
  } finally {
    configure({ propagation: 'async-local-storage' });
  }
}

const observed = new Map<string, Record<string, { plain?: Outcome; remedied?: Outcome }>>();
function record(boundary: BoundaryCase, mode: NodeMode, key: 'plain' | 'remedied', outcome: Outcome): void {
  const row = observed.get(boundary.name) ?? {};
  row[mode] = { ...row[mode], [key]: outcome };
  observed.set(boundary.name, row);
}

afterAll(() => {
  const target = process.env.CALLSCOPE_BOUNDARY_RESULTS;
  if (target === undefined) return;
  const rows: BoundaryRow[] = boundaryCases.map((boundary) => ({
    name: boundary.name,
    remedy: boundary.remedy,
    outcomes: Object.fromEntries(MODES.map((mode) => [mode, observed.get(boundary.name)?.[mode]])) as BoundaryRow['outcomes'],
  }));
  writeFileSync(target, JSON.stringify(rows, null, 2));
});

describe.each(MODES)("async boundaries in '%s' mode", (mode) => {
  describe.each(boundaryCases.map((boundary) => [boundary.name, boundary] as const))('%s', (_name, boundary) => {
    const expected = boundary.expected[mode];

    it(`${expected === 'kept' ? 'keeps' : 'loses'} the parent of a runnable invoked on the far side`, async () => {
      const outcome = await probe(boundary, mode, false);
      record(boundary, mode, 'plain', outcome);
      expect(outcome).toBe(expected);
    });

    if (expected === 'lost') {
      const fix = mode === 'explicit' && boundary.remedy !== 'send the run id to the worker' ? 'passing config' : boundary.remedy;
      it(`keeps it with ${fix}`, async () => {
        const outcome = await probe(boundary, mode, true);
        record(boundary, mode, 'remedied', outcome);
        expect(outcome).toBe('kept');
      });
    }
  });
});
