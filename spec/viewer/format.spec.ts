import { readJsonlRuns } from '../../lib/viewer/format';

const LINE = {
  v: 1,
  id: 'a',
  parentRunId: null,
  name: 'plan',
  type: 'chain',
  inputs: { input: 'Lisbon' },
  outputs: { output: 'ok' },
  error: null,
  tags: ['t'],
  metadata: { user: 'ada' },
  startTime: 10,
  endTime: 20,
  tokenCount: 0,
  events: [],
};

describe('readJsonlRuns()', () => {
  it('reads each line of a JsonlTracer file as a run, numbering runs by line', () => {
    const text = `${JSON.stringify(LINE)}\n${JSON.stringify({ ...LINE, id: 'b', parentRunId: 'a', type: 'llm', llmOutput: { usage: 3 } })}\n`;
    const { runs, problems } = readJsonlRuns(text);
    expect(problems).toEqual([]);
    expect(runs).toEqual([
      { ...LINE, v: undefined, seq: 1 },
      { ...LINE, v: undefined, id: 'b', parentRunId: 'a', type: 'llm', llmOutput: { usage: 3 }, seq: 2 },
    ].map(({ v: _v, ...run }) => run));
  });

  it('reads a line without `v` (written before the format had versions) as version 1', () => {
    const { v: _v, ...older } = LINE;
    expect(readJsonlRuns(JSON.stringify(older))).toMatchObject({ runs: [{ id: 'a', name: 'plan' }], problems: [] });
  });

  it('turns `tokenTimes` (ms after the start) into times since the epoch, and ignores a malformed one', () => {
    const model = { ...LINE, type: 'llm', tokenCount: 3, tokenTimes: [1.5, 2, 4.25] };
    expect(readJsonlRuns(JSON.stringify(model)).runs[0]?.tokenTimes).toEqual([11.5, 12, 14.25]);
    for (const tokenTimes of ['1,2', [1, 'x'], [], null]) {
      const { runs, problems } = readJsonlRuns(JSON.stringify({ ...model, tokenTimes }));
      expect(problems).toEqual([]);
      expect(runs[0]).not.toHaveProperty('tokenTimes');
      expect(runs[0]?.tokenCount).toBe(3);
    }
  });

  it('skips blank lines and a missing final newline without complaint', () => {
    expect(readJsonlRuns(`\n\n${JSON.stringify(LINE)}\r\n\n`).problems).toEqual([]);
  });

  it('reports each unreadable line with its number and why, and reads the rest', () => {
    const text = [
      JSON.stringify(LINE),
      '{"id": "cut',
      JSON.stringify({ ...LINE, id: 'c', v: 2 }),
      JSON.stringify({ ...LINE, id: 'd', startTime: 'soon', name: '' }),
      JSON.stringify(LINE),
      'null',
      JSON.stringify({ ...LINE, id: 'e', parentRunId: 7 }),
      JSON.stringify({ ...LINE, id: 'f' }),
    ].join('\n');
    const { runs, problems } = readJsonlRuns(text);
    expect(runs.map((run) => run.id)).toEqual(['a', 'f']);
    expect(problems).toEqual([
      { line: 2, message: expect.stringMatching(/^not JSON \(/) },
      { line: 3, message: 'format version 2 is not one this viewer reads (it reads 1); a newer callscope wrote it' },
      { line: 4, message: 'missing or invalid `name` (a non-empty string), `startTime` (a number of ms since the epoch)' },
      { line: 5, message: 'run id "a" already appeared on an earlier line' },
      { line: 6, message: 'expected a JSON object, got null' },
      { line: 7, message: 'missing or invalid `parentRunId` (a string or null)' },
    ]);
  });

  it('fills fields a line lacks with empty values, and keeps an error that is not an object as a message', () => {
    const { runs } = readJsonlRuns(JSON.stringify({ id: 'x', name: 'n', type: 'tool', startTime: 5, endTime: 4, error: 'boom' }));
    expect(runs[0]).toEqual({
      id: 'x',
      parentRunId: null,
      name: 'n',
      type: 'tool',
      inputs: null,
      outputs: null,
      error: { message: 'boom' },
      tags: [],
      metadata: {},
      startTime: 5,
      endTime: 5,
      tokenCount: 0,
      events: [],
      seq: 1,
    });
  });
});
