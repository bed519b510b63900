import {
  barGeometry,
  buildForest,
  filterIsActive,
  formatDuration,
  hydrateRun,
  matchFilter,
  packedFromText,
  packedToText,
  packRuns,
  unpackRuns,
  searchableText,
  timeAxis,
  tokenStats,
  treeOf,
  visibleRows,
  type RowFilter,
  type ViewerRun,
} from '../../lib/viewer/layout';

let seq = 0;
/** A finished run; `parent` is the parent's id. */
function run(id: string, parent: string | null, startTime: number, endTime: number | null, extra: Partial<ViewerRun> = {}): ViewerRun {
  return {
    id,
    parentRunId: parent,
    name: id,
    type: 'chain',
    inputs: null,
    outputs: null,
    error: null,
    tags: [],
    metadata: {},
    startTime,
    endTime,
    tokenCount: 0,
    events: [],
    seq: seq++,
    ...extra,
  };
}

const NO_FILTER: RowFilter = { name: '', type: '', tag: '', errorsOnly: false, search: '' };

/** The ids of the visible rows, each prefixed by its depth. */
function shown(runs: ViewerRun[], collapsed: string[] = [], filter?: RowFilter): string[] {
  const forest = buildForest(runs);
  const matches = filter === undefined ? undefined : matchFilter(runs, filter, (i) => searchableText(runs[i] as ViewerRun));
  return visibleRows(forest, new Set(collapsed), matches).map((node) => `${forest.depth[node]} ${runs[node]?.id}`);
}

// As a JSONL file has them: children before their parent, in the order they ended.
function tripRuns(): ViewerRun[] {
  return [
    run('llm', 'weather', 1_010, 1_050, { type: 'llm', tokenCount: 5, inputs: { messages: [[{ role: 'human', content: 'Weather in Lisbon?' }]] } }),
    run('hotels', 'plan', 1_006, 1_008, { type: 'tool', tags: ['io'] }),
    run('weather', 'plan', 1_005, 1_055, { type: 'tool', tags: ['io'] }),
    run('plan', 'trip', 1_002, 1_060),
    run('book', 'trip', 1_061, 1_062, { error: { name: 'Error', message: 'no seats left' } }),
    run('trip', null, 1_000, 1_062, { error: { name: 'Error', message: 'no seats left' } }),
  ];
}

describe('viewer layout', () => {
  describe('buildForest()', () => {
    it('nests runs under their parents, depth first, whatever order the lines came in', () => {
      expect(shown(tripRuns())).toEqual(['0 trip', '1 plan', '2 weather', '3 llm', '2 hotels', '1 book']);
    });

    it('orders concurrent children by start time, not by the order they ended', () => {
      const runs = [run('b', 'p', 20, 21), run('c', 'p', 30, 31), run('a', 'p', 10, 90), run('p', null, 0, 100)];
      expect(shown(runs)).toEqual(['0 p', '1 a', '1 b', '1 c']);
    });

    it('orders children that started in the same millisecond by their sequence (line or start order)', () => {
      const runs = [run('first', 'p', 5, 6), run('second', 'p', 5, 6), run('third', 'p', 5, 6), run('p', null, 5, 7)];
      expect(shown(runs)).toEqual(['0 p', '1 first', '1 second', '1 third']);
      expect(shown([runs[2] as ViewerRun, runs[0] as ViewerRun, runs[1] as ViewerRun, runs[3] as ViewerRun])).toEqual(['0 p', '1 first', '1 second', '1 third']);
    });

    it('orders root runs by start time', () => {
      expect(shown([run('late', null, 50, 60), run('early', null, 10, 20)])).toEqual(['0 early', '0 late']);
    });

    it('makes a run whose parent is not in the file a root', () => {
      expect(shown([run('child', 'missing', 1, 2), run('other', null, 0, 3)])).toEqual(['0 other', '0 child']);
    });

    it('shows runs caught in a parent cycle (a corrupt file) as roots instead of losing them', () => {
      const runs = [run('a', 'b', 1, 2), run('b', 'a', 2, 3), run('c', 'c', 3, 4)];
      const forest = buildForest(runs);
      expect(visibleRows(forest, new Set()).length).toBe(3);
      expect(forest.depth.every((depth) => depth >= 0)).toBe(true);
    });

    it('records each node’s parent and depth', () => {
      const runs = tripRuns();
      const forest = buildForest(runs);
      const llm = runs.findIndex((r) => r.id === 'llm');
      expect(forest.depth[llm]).toBe(3);
      expect(runs[forest.parent[llm] as number]?.id).toBe('weather');
      expect(treeOf(forest, llm).map((node) => runs[node]?.id).sort()).toEqual(['book', 'hotels', 'llm', 'plan', 'trip', 'weather']);
    });
  });

  describe('visibleRows()', () => {
    it('hides the descendants of a collapsed run but shows the run itself', () => {
      expect(shown(tripRuns(), ['plan'])).toEqual(['0 trip', '1 plan', '1 book']);
      expect(shown(tripRuns(), ['trip'])).toEqual(['0 trip']);
    });

    it('keeps the ancestors of a match, so a match is shown in its tree', () => {
      expect(shown(tripRuns(), [], { ...NO_FILTER, type: 'llm' })).toEqual(['0 trip', '1 plan', '2 weather', '3 llm']);
    });

    it('shows nothing under a collapsed run even when a descendant matches', () => {
      expect(shown(tripRuns(), ['plan'], { ...NO_FILTER, type: 'llm' })).toEqual(['0 trip', '1 plan']);
    });
  });

  describe('matchFilter()', () => {
    it('matches a part of the name, case-insensitively', () => {
      expect(shown(tripRuns(), [], { ...NO_FILTER, name: 'HOTEL' })).toEqual(['0 trip', '1 plan', '2 hotels']);
    });

    it('matches a tag exactly', () => {
      expect(shown(tripRuns(), [], { ...NO_FILTER, tag: 'io' })).toEqual(['0 trip', '1 plan', '2 weather', '2 hotels']);
      expect(shown(tripRuns(), [], { ...NO_FILTER, tag: 'i' })).toEqual([]);
    });

    it('keeps only failed runs with errorsOnly', () => {
      expect(shown(tripRuns(), [], { ...NO_FILTER, errorsOnly: true })).toEqual(['0 trip', '1 book']);
    });

    it('searches inputs and outputs, case-insensitively', () => {
      expect(shown(tripRuns(), [], { ...NO_FILTER, search: 'weather in lisbon' })).toEqual(['0 trip', '1 plan', '2 weather', '3 llm']);
    });

    it('requires every given field to match', () => {
      expect(shown(tripRuns(), [], { ...NO_FILTER, tag: 'io', name: 'weather' })).toEqual(['0 trip', '1 plan', '2 weather']);
    });

    it('is inactive when every field is empty', () => {
      expect(filterIsActive(NO_FILTER)).toBe(false);
      expect(filterIsActive({ ...NO_FILTER, errorsOnly: true })).toBe(true);
    });
  });

  describe('timeAxis()', () => {
    it('spans from the earliest start to the latest end, with ticks at round steps', () => {
      const axis = timeAxis(tripRuns(), 0, 6);
      expect(axis.start).toBe(1_000);
      expect(axis.span).toBe(62);
      // 62 ms / 6 ticks is about 10 ms: the next round step is 20 ms.
      expect(axis.ticks.map((tick) => tick.label)).toEqual(['0 ms', '20 ms', '40 ms', '60 ms']);
      expect(axis.ticks[3]?.at).toBeCloseTo(60 / 62);
    });

    it('picks steps of 1, 2 or 5 times a power of ten', () => {
      expect(timeAxis([run('a', null, 0, 87)], 0, 6).ticks.map((tick) => tick.offsetMs)).toEqual([0, 20, 40, 60, 80]);
      expect(timeAxis([run('a', null, 0, 12_000)], 0, 6).ticks.map((tick) => tick.label)).toEqual(['0 ms', '2 s', '4 s', '6 s', '8 s', '10 s', '12 s']);
    });

    it('extends to now for runs still running', () => {
      expect(timeAxis([run('a', null, 100, null)], 400).span).toBe(300);
    });

    it('gives a 1 ms axis when there are no runs', () => {
      expect(timeAxis([], 5)).toEqual({
        start: 5,
        span: 1,
        ticks: [
          { offsetMs: 0, at: 0, label: '0 ms' },
          { offsetMs: 1, at: 1, label: '1 ms' },
        ],
      });
    });
  });

  describe('barGeometry()', () => {
    const axis = timeAxis([run('root', null, 0, 1_000)], 0);

    it('places a bar at its start, as long as the run, as fractions of the axis', () => {
      expect(barGeometry(run('x', null, 250, 750), axis, 0)).toEqual({ left: 0.25, width: 0.5 });
    });

    it('gives a zero-length run the minimum width, inside the axis', () => {
      expect(barGeometry(run('x', null, 1_000, 1_000), axis, 0, 0.01)).toEqual({ left: 0.99, width: 0.01 });
    });

    it('draws a running run up to now', () => {
      expect(barGeometry(run('x', null, 500, null), axis, 800)).toEqual({ left: 0.5, width: 0.3 });
    });
  });

  describe('tokenStats()', () => {
    it('gives time to first token and tokens per second from token times', () => {
      const stats = tokenStats(run('m', null, 1_000, 1_400, { type: 'llm', tokenCount: 3, tokenTimes: [1_100, 1_200, 1_300] }));
      expect(stats).toEqual({ count: 3, timeToFirstToken: 100, tokensPerSecond: 10, offsets: [100, 200, 300] });
    });

    it('without token times (a JSONL file), gives throughput over the whole run and no time to first token', () => {
      expect(tokenStats(run('m', null, 0, 500, { type: 'llm', tokenCount: 5 }))).toEqual({ count: 5, timeToFirstToken: null, tokensPerSecond: 10, offsets: [] });
    });
  });

  describe('packRuns() and unpackRuns()', () => {
    it('give back the same runs, in seq order, once hydrated', () => {
      const runs = [
        ...tripRuns(),
        run('orphan', 'elsewhere', 1_070, null, { tags: ['io', 'late'], metadata: { user: 'ada' }, events: [{ name: 'progress', data: 1 }], llmOutput: { usage: 3 }, tokenTimes: [1_071] }),
      ];
      const unpacked = unpackRuns(packedFromText(packedToText(packRuns(runs))));
      expect(unpacked.map(hydrateRun)).toEqual(
        runs.map((original, i) => ({ ...original, inputs: original.inputs ?? null, outputs: original.outputs ?? null, seq: i, lazy: undefined })),
      );
    });

    it('keep inputs and outputs as JSON text until hydrated, and search that text', () => {
      const [unpacked] = unpackRuns(packRuns([run('a', null, 0, 1, { inputs: { city: 'Lisbon' }, outputs: 'Sunny' })]));
      expect(unpacked?.inputs).toBeUndefined();
      expect(searchableText(unpacked as ViewerRun)).toBe('{"city":"lisbon"}\n"sunny"');
      expect(hydrateRun(unpacked as ViewerRun).inputs).toEqual({ city: 'Lisbon' });
      expect(searchableText(unpacked as ViewerRun)).toBe('{"city":"lisbon"}\n"sunny"');
    });

    it('carry line breaks inside values through the text form', () => {
      const runs = [run('a', null, 0, 1, { inputs: 'one\ntwo', outputs: { text: 'three\r\nfour' } }), run('b', null, 0, 1)];
      const [first, second] = unpackRuns(packedFromText(packedToText(packRuns(runs)))).map(hydrateRun);
      expect([first?.inputs, first?.outputs, second?.inputs]).toEqual(['one\ntwo', { text: 'three\r\nfour' }, null]);
    });

    it('store each name, type and tag list once', () => {
      const packed = packRuns([run('a', null, 0, 1, { tags: ['x'] }), run('b', null, 0, 1, { tags: ['x'], name: 'a' })]);
      expect(packed.strings).toEqual(['a', 'chain', 'x']);
      expect(packed.tagSets).toEqual([[2]]);
    });
  });

  describe('formatDuration()', () => {
    it.each([
      [0, '0 ms'],
      [12.4, '12 ms'],
      [1_500, '1.5 s'],
      [12_340, '12.3 s'],
      [125_000, '2 min 5 s'],
    ])('formats %p ms as %p', (ms, text) => {
      expect(formatDuration(ms)).toBe(text);
    });
  });
});
