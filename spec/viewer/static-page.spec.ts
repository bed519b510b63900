import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import type { JsonlRunRecord } from '../../lib';
import { main } from '../../lib/viewer/cli';
import { SCREENSHOTS, launchBrowser, rowNamed, rowTexts, rowsOf, type Browser } from './browser';
import { writeManyRuns, writeTripRuns } from './fixtures';

// The page `npx callscope view` writes, opened from disk in headless chromium, for JSONL files written by
// real runs: a failing trip planner (nested tools, a streamed model) and 5,000 small traces.

jest.setTimeout(60_000);

const MANY_ROOTS = 5_000;
// A job and its step each, and a failing `flaky` step in every tenth job.
const MANY_RUNS = MANY_ROOTS * 2 + MANY_ROOTS / 10;

let work: string;
let browser: Browser;
let page: Page;
let requests: string[];
const pages: Record<'trip' | 'many' | 'damaged', string> = { trip: '', many: '', damaged: '' };
let tripRecords: JsonlRunRecord[];

/** Writes the page of a JSONL file with the command line and returns its file URL. */
function view(jsonl: string): string {
  const html = jsonl.replace(/\.jsonl$/, '.html');
  const messages: string[] = [];
  const code = main(['view', jsonl, '--out', html], { out: (text) => messages.push(text), err: (text) => messages.push(text) });
  if (code !== 0) throw new Error(`callscope view failed: ${messages.join('\n')}`);
  return pathToFileURL(html).href;
}

async function open(url: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
}

async function setFilter(selector: string, value: string): Promise<void> {
  await page.fill(selector, value);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'callscope-viewer-'));
  const trip = join(work, 'trip.jsonl');
  await writeTripRuns(trip);
  tripRecords = readFileSync(trip, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as JsonlRunRecord);
  const many = join(work, 'many.jsonl');
  await writeManyRuns(many, MANY_ROOTS);
  const damaged = join(work, 'damaged.jsonl');
  await writeTripRuns(damaged);
  const { v: _v, ...olderLine } = { ...tripRecords[0], id: 'written-before-versions', parentRunId: null, name: 'older' } as JsonlRunRecord;
  appendFileSync(damaged, ['{"id": "cut', '', JSON.stringify({ ...olderLine, v: 2, id: 'from-the-future' }), JSON.stringify(olderLine), '[1, 2]', ''].join('\n'));
  pages.trip = view(trip);
  pages.many = view(many);
  pages.damaged = view(damaged);

  browser = await launchBrowser();
  // Anything but the page's own file is recorded and refused: the page must not reach for the network.
  requests = [];
  await browser.context.route(/^(?!file:)/, async (route) => {
    requests.push(route.request().url());
    await route.abort();
  });
  page = await browser.context.newPage();
  page.on('request', (request) => {
    if (!request.url().startsWith('file:')) requests.push(request.url());
  });
  // Content-Security-Policy refusals would hide an attempt from the request log: count them too.
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { cspViolations: string[] }).cspViolations = seen;
    document.addEventListener('securitypolicyviolation', (event) => seen.push(`${event.violatedDirective} ${event.blockedURI}`));
  });
  page.on('pageerror', (error) => requests.push(`page error: ${error.message}`));
});

afterAll(async () => {
  await browser?.close();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the static viewer page (npx callscope view)', () => {
  describe('a failing trip planner', () => {
    beforeAll(async () => {
      await open(pages.trip);
    });

    it('shows one row per run, nested by depth, siblings in start order', async () => {
      expect(await rowTexts(page)).toEqual([
        '0 chain trip',
        '1 chain plan',
        '2 tool weather',
        '3 llm FakeChatModel',
        '2 tool hotels',
        '1 chain book',
      ]);
      expect(await page.textContent('#summary')).toBe('6 runs · 1 traces · 2 errors');
    });

    it('shows failed runs in red with their message', async () => {
      expect((await rowsOf(page)).filter((row) => row.error).map((row) => row.name)).toEqual(['trip', 'book']);
      await expect(rowNamed(page, 'book').locator('.message').textContent()).resolves.toBe('Error: no seats left');
      const colour = await rowNamed(page, 'book').locator('.bar').evaluate((bar) => getComputedStyle(bar).backgroundColor);
      expect(colour).toBe('rgb(229, 72, 77)');
    });

    it('colours bars by run type and shows the token count on the model row', async () => {
      const colours = await page.$$eval('#rows .row:not(.error) .bar', (bars) => bars.map((bar) => getComputedStyle(bar).backgroundColor));
      expect(new Set(colours).size).toBe(3);
      const tokens = tripRecords.find((record) => record.type === 'llm')?.tokenCount;
      expect(tokens).toBeGreaterThan(0);
      await expect(rowNamed(page, 'FakeChatModel').locator('.tokens').textContent()).resolves.toBe(`${tokens} tok`);
    });

    it('places bars on one time axis: a child starts within its parent', async () => {
      const box = async (name: string) => (await rowNamed(page, name).locator('.bar').boundingBox()) as { x: number; width: number };
      const [trip, plan, book] = [await box('trip'), await box('plan'), await box('book')];
      expect(plan.x).toBeGreaterThanOrEqual(trip.x);
      expect(book.x).toBeGreaterThanOrEqual(plan.x + plan.width - 1);
      expect(book.x + book.width).toBeLessThanOrEqual(trip.x + trip.width + 1);
    });

    it('shows the inputs, outputs, tags, metadata and tokens of a clicked model run', async () => {
      await rowNamed(page, 'FakeChatModel').click();
      const details = (await page.textContent('#details')) ?? '';
      expect(details).toContain('FakeChatModel');
      expect(details).toContain('Weather in Lisbon?');
      expect(details).toContain('Sunny, 24 degrees in Lisbon');
      expect(details).toMatch(/Tags\s*trip, city:lisbon/);
      expect(details).toContain('"user": "ada"');
      // JsonlTracer records each token's arrival: the file view has the same token timeline as the live one.
      expect(details).toMatch(/\d+ tokens · time to first token: [\d.]+ (ms|µs)/);
      expect(details).toMatch(/[\d.]+ tokens\/s(?! over the whole run)/);
      expect((await rowsOf(page)).find((row) => row.selected)?.name).toBe('FakeChatModel');
      await page.screenshot({ path: join(SCREENSHOTS, 'static-model-details.png') });
    });

    it('shows the error with its stack for a clicked failed run', async () => {
      await rowNamed(page, 'book').click();
      await expect(page.textContent('#details .error-box strong')).resolves.toBe('Error: no seats left');
      await expect(page.textContent('#details .error-box pre.stack')).resolves.toMatch(/^Error: no seats left\n\s+at /);
      await page.screenshot({ path: join(SCREENSHOTS, 'static-error.png') });
    });

    it('collapses and expands a run with its toggle', async () => {
      await rowNamed(page, 'plan').locator('.toggle').click();
      expect(await rowTexts(page)).toEqual(['0 chain trip', '1 chain plan', '1 chain book']);
      await rowNamed(page, 'plan').locator('.toggle').click();
      expect(await rowTexts(page)).toHaveLength(6);
    });

    it('moves, collapses and expands with the keyboard', async () => {
      await page.focus('#viewport');
      await page.keyboard.press('Home');
      const selected = async () => (await rowsOf(page)).find((row) => row.selected)?.name;
      expect(await selected()).toBe('trip');
      await page.keyboard.press('ArrowDown');
      expect(await selected()).toBe('plan');
      await page.keyboard.press('ArrowLeft');
      expect(await rowTexts(page)).toEqual(['0 chain trip', '1 chain plan', '1 chain book']);
      await page.keyboard.press('ArrowLeft');
      expect(await selected()).toBe('trip');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('ArrowRight');
      expect(await rowTexts(page)).toHaveLength(6);
      await page.keyboard.press('ArrowRight');
      expect(await selected()).toBe('weather');
      await page.keyboard.press('End');
      expect(await selected()).toBe('book');
      expect(await page.textContent('#details h2')).toBe('book');
    });

    it('filters by name, type and errors only, keeping the path to each match', async () => {
      await setFilter('#filter-name', 'hotel');
      expect(await rowTexts(page)).toEqual(['0 chain trip', '1 chain plan', '2 tool hotels']);
      await setFilter('#filter-name', '');
      await page.selectOption('#filter-type', 'llm');
      expect(await rowTexts(page)).toEqual(['0 chain trip', '1 chain plan', '2 tool weather', '3 llm FakeChatModel']);
      await page.selectOption('#filter-type', '');
      await page.check('#filter-errors');
      expect(await rowTexts(page)).toEqual(['0 chain trip', '1 chain book']);
      await page.uncheck('#filter-errors');
      expect(await rowTexts(page)).toHaveLength(6);
    });

    it('searches inputs and outputs', async () => {
      await page.focus('#viewport');
      await page.keyboard.press('/');
      await page.keyboard.type('3 hotels');
      // The hotels tool returned it, and plan and book got it in their inputs or outputs.
      expect(await rowTexts(page)).toEqual(['0 chain trip', '1 chain plan', '2 tool hotels', '1 chain book']);
      await setFilter('#filter-search', 'nowhere to be found');
      expect(await rowTexts(page)).toEqual([]);
      await setFilter('#filter-search', '');
    });
  });

  describe('a file with damaged lines', () => {
    beforeAll(async () => {
      await open(pages.damaged);
    });

    it('shows the runs of the good lines, including one written before lines had a version', async () => {
      const names = (await rowsOf(page)).map((row) => row.name);
      expect(names).toEqual(expect.arrayContaining(['trip', 'book', 'older']));
      expect(names).toHaveLength(7);
    });

    it('lists each skipped line with its number and why', async () => {
      await expect(page.textContent('#problems-title')).resolves.toBe('3 lines were skipped');
      const items = await page.$$eval('#problems-list li', (lis) => lis.map((li) => li.textContent));
      expect(items).toEqual([
        expect.stringMatching(/^line 7: not JSON/),
        expect.stringMatching(/^line 9: format version 2 is not one this viewer reads/),
        'line 11: expected a JSON object, got an array',
      ]);
    });
  });

  describe(`${MANY_ROOTS.toLocaleString('en')} traces (${MANY_RUNS.toLocaleString('en')} runs)`, () => {
    beforeAll(async () => {
      await open(pages.many);
    });

    it('counts every run but renders only the rows in view', async () => {
      await expect(page.textContent('#summary')).resolves.toBe(`${MANY_RUNS} runs · ${MANY_ROOTS} traces · ${MANY_ROOTS / 10} errors`);
      const rendered = (await rowsOf(page)).length;
      expect(rendered).toBeGreaterThan(10);
      expect(rendered).toBeLessThan(100);
      const height = await page.$eval('#spacer', (spacer) => (spacer as HTMLElement).style.height);
      expect(height).toBe(`${MANY_RUNS * 24}px`);
    });

    it('scrolls to the last run', async () => {
      await page.focus('#viewport');
      await page.keyboard.press('End');
      const rows = await rowsOf(page);
      // The last job is job-4999, one of the tenth jobs, whose last step is the failing `flaky`.
      expect(rows.find((row) => row.selected)?.name).toBe('flaky');
      expect(rows.map((row) => row.name)).toContain(`job-${MANY_ROOTS - 1}`);
      await page.screenshot({ path: join(SCREENSHOTS, 'static-many-end.png') });
    });

    it('filters by tag and errors over every run', async () => {
      await page.fill('#filter-tag', 'odd');
      await page.check('#filter-errors');
      // Every tenth job fails in `flaky`, and those are the odd ones (i % 10 === 9).
      await expect(page.textContent('#summary')).resolves.toContain(`${(MANY_ROOTS / 10) * 2} shown`);
      await page.focus('#viewport');
      await page.keyboard.press('Home');
      expect((await rowTexts(page)).slice(0, 4)).toEqual(['0 chain job-9', '1 chain flaky', '0 chain job-19', '1 chain flaky']);
      await page.fill('#filter-tag', '');
      await page.uncheck('#filter-errors');
    });
  });

  it('makes no network request and attempts none', async () => {
    for (const url of Object.values(pages)) await open(url);
    expect(requests).toEqual([]);
    expect(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)).toEqual([]);
  });
});
