import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { main } from '../../lib/viewer/cli';
import { packedFromText } from '../../lib/viewer/layout';
import { writeTripRuns } from './fixtures';

/** Runs the command line, capturing what it prints. */
function cli(...argv: string[]): { code: number; out: string; err: string } {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(argv, { out: (text) => out.push(text), err: (text) => err.push(text) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('callscope view (command line)', () => {
  let work: string;
  let jsonl: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'callscope-cli-'));
    jsonl = join(work, 'runs.jsonl');
    await writeTripRuns(jsonl);
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('writes the page next to the file, with .html, and says what it wrote', () => {
    expect(cli('view', jsonl)).toEqual({ code: 0, out: `Wrote ${join(work, 'runs.html')}: 6 runs (2 failed).`, err: '' });
    expect(readFileSync(join(work, 'runs.html'), 'utf8')).toMatch(/^<!doctype html>/);
  });

  it('writes the page where --out says', () => {
    const out = join(work, 'trace.html');
    expect(cli('view', jsonl, '--out', out).code).toBe(0);
    expect(cli('view', `--out=${out}2`, jsonl).code).toBe(0);
    expect(existsSync(out) && existsSync(`${out}2`)).toBe(true);
  });

  it('writes one self-contained file: no external script, style, image or link, and a policy that forbids network access', () => {
    const html = readFileSync(join(work, 'runs.html'), 'utf8');
    expect(html).not.toMatch(/<(script|img|link|iframe)[^>]+(src|href)=/i);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).toContain(`content="default-src &#39;none&#39;; script-src &#39;unsafe-inline&#39;; style-src &#39;unsafe-inline&#39;; img-src data:; connect-src &#39;none&#39;`);
  });

  it('escapes the data, so a run whose input closes the script element cannot inject markup', async () => {
    const file = join(work, 'hostile.jsonl');
    const hostile = '</script><script>alert(1)</script><!--';
    const line = { id: 'x', parentRunId: null, name: `n${hostile}`, type: 'chain', inputs: hostile, startTime: 1, endTime: 2 };
    writeFileSync(file, `${JSON.stringify(line)}\n`);
    expect(main(['view', file], { out: () => undefined, err: () => undefined })).toBe(0);
    const html = readFileSync(join(work, 'hostile.html'), 'utf8');
    // The page's own three script elements close, and nothing else does.
    expect(html.match(/<\/script>/g)).toHaveLength(3);
    expect(html).not.toContain('<script>alert(1)');
    const runs = /<script id="callscope-runs" type="application\/octet-stream">([A-Za-z0-9+/=]+)<\/script>/.exec(html)?.[1];
    const packed = packedFromText(gunzipSync(Buffer.from(runs ?? '', 'base64')).toString('utf8'));
    expect(packed).toMatchObject({ strings: [`n${hostile}`, 'chain'], inputs: [JSON.stringify(hostile)] });
  });

  it('lists skipped lines with their line number on stderr and still writes the page', () => {
    const file = join(work, 'damaged.jsonl');
    writeFileSync(file, `${readFileSync(jsonl, 'utf8')}not json\n{"v": 9}\n`);
    const result = cli('view', file);
    expect(result.code).toBe(0);
    expect(result.out).toBe(`Wrote ${join(work, 'damaged.html')}: 6 runs (2 failed), 2 lines skipped.`);
    expect(result.err.split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^${file}:7: skipped: not JSON`)),
      `${file}:8: skipped: format version 9 is not one this viewer reads (it reads 1); a newer callscope wrote it`,
    ]);
  });

  it.each([
    [[], /^Usage: callscope view/],
    [['show', 'runs.jsonl'], /^callscope: unknown command `show`; expected `view`/],
    [['view'], /^callscope view: expected the JSONL file to read/],
    [['view', 'a.jsonl', 'b.jsonl'], /^callscope view: expected one input file, got `a.jsonl` and `b.jsonl`/],
    [['view', 'a.jsonl', '--out'], /^callscope view: expected a file name after `--out`/],
    [['view', 'a.jsonl', '--watch'], /^callscope view: unknown option `--watch`; expected --out <file>, --open or --help/],
    [['view', '/nonexistent/runs.jsonl'], /^callscope view: cannot read \/nonexistent\/runs.jsonl: ENOENT/],
  ])('exits with 1 and says what is wrong for %p', (argv, message) => {
    const result = cli(...argv);
    expect(result.code).toBe(1);
    expect(`${result.err}${result.out}`).toMatch(message);
  });

  it('prints its usage with --help and exits with 0', () => {
    expect(cli('view', '--help')).toMatchObject({ code: 0, out: expect.stringContaining('--out <file>') });
    expect(cli('--help').code).toBe(0);
  });
});
