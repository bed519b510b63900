import { request } from 'node:http';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ConfigError, RunnableLambda } from '../../lib';
import { LiveViewer } from '../../lib/viewer';
import { SCREENSHOTS, launchBrowser, rowNamed, rowTexts, rowsOf, type Browser } from './browser';
import { runTrip } from './fixtures';

jest.setTimeout(60_000);

const TRIP_ROWS = ['0 chain trip', '1 chain plan', '2 tool weather', '3 llm FakeChatModel', '2 tool hotels', '1 chain book'];

/** GET on the viewer's server with a given Host header: the status code. */
function statusOf(url: string, path: string, host?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const target = new URL(path, url);
    const req = request(target, { headers: host === undefined ? {} : { host } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
      response.destroy();
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * How many TCP servers this process holds. Node lists a closed server's handle until the event loop has
 * turned past its close, hence the two `setImmediate` turns first.
 */
async function tcpServers(): Promise<number> {
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
  return process.getActiveResourcesInfo().filter((name) => name === 'TCPServerWrap').length;
}

async function openViewer(page: Page, viewer: LiveViewer): Promise<void> {
  await page.goto(viewer.url as string);
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForFunction(() => document.getElementById('summary')?.textContent?.includes('live'));
}

describe('LiveViewer', () => {
  describe('options', () => {
    it.each([
      [{ port: -1 }, 'port', 'Expected `port` to be a whole number from 0 to 65535, got `-1` (number)'],
      [{ port: '80' }, 'port', 'Expected `port` to be a whole number from 0 to 65535, got `"80"` (string)'],
      [{ host: '' }, 'host', 'Expected `host` to be a non-empty host name or IP address'],
      [{ maxRootRuns: 0 }, 'maxRootRuns', 'Expected `maxRootRuns` to be a whole number of at least 1, got `0` (number)'],
      [{ prot: 0 }, 'prot', 'Unknown option `prot` in LiveViewer options. Did you mean `port`? Expected only: port, host, maxRootRuns.'],
    ])('refuses %p with a ConfigError naming `%s`', (options, field, message) => {
      let thrown: unknown;
      try {
        new LiveViewer(options as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      expect(thrown).toMatchObject({ name: 'ConfigError', code: 'INVALID_CONFIG', field });
      expect((thrown as Error).message).toContain(message);
    });
  });

  describe('serving', () => {
    let viewer: LiveViewer;

    beforeAll(async () => {
      viewer = new LiveViewer({ port: 0 });
      await viewer.ready;
    });

    afterAll(() => viewer.close());

    it('listens on 127.0.0.1 on a port the system picked, given in `url`', () => {
      expect(viewer.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(viewer.url).not.toBe('http://127.0.0.1:0/');
    });

    it('serves the page at / and nothing else', async () => {
      const url = viewer.url as string;
      expect(await statusOf(url, '/')).toBe(200);
      expect(await statusOf(url, '/secrets')).toBe(404);
    });

    it('refuses requests for another host name (DNS rebinding)', async () => {
      const url = viewer.url as string;
      expect(await statusOf(url, '/', 'evil.example:80')).toBe(403);
      expect(await statusOf(url, '/', `localhost:${new URL(url).port}`)).toBe(200);
    });

    it('rejects `ready` when the port is taken, without an unhandled rejection', async () => {
      const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
      const second = new LiveViewer({ port: Number(new URL(viewer.url as string).port) });
      await expect(second.ready).rejects.toThrow(/EADDRINUSE/);
      expect(second.url).toBeUndefined();
      await second.close();
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('callscope LiveViewer: could not listen on 127.0.0.1'));
      warn.mockRestore();
    });
  });

  describe('in a browser', () => {
    let browser: Browser;
    let page: Page;

    beforeAll(async () => {
      browser = await launchBrowser();
      page = await browser.context.newPage();
    });

    afterAll(async () => {
      await browser?.close();
    });

    it('shows runs in an open page as a pipeline starts and ends them', async () => {
      const viewer = new LiveViewer({ port: 0 });
      await viewer.ready;
      try {
        await openViewer(page, viewer);
        expect(await rowsOf(page)).toEqual([]);
        // The root appears while the pipeline still runs, then the rest as they start.
        let open = (): void => undefined;
        const gate = new Promise<void>((resolve) => (open = resolve));
        const outer = RunnableLambda.from(async () => gate, { name: 'waiting' });
        const waiting = outer.invoke(1, { callbacks: [viewer] });
        await rowNamed(page, 'waiting').waitFor();
        expect(await rowNamed(page, 'waiting').getAttribute('class')).toContain('running');
        open();
        await waiting;
        await page.waitForFunction(() => !document.querySelector('#rows .row.running'));

        await runTrip([viewer]);
        await rowNamed(page, 'book').and(page.locator('.error')).waitFor();
        await page.waitForFunction(() => document.querySelectorAll('#rows .row').length === 7 && !document.querySelector('#rows .row.running'));
        expect((await rowTexts(page)).filter((row) => row !== '0 chain waiting')).toEqual(TRIP_ROWS);
        expect((await rowsOf(page)).filter((row) => row.error).map((row) => row.name)).toEqual(['trip', 'book']);
      } finally {
        await viewer.close();
      }
    });

    it('shows runs that ended before the page opened, and a model run’s tokens on their own timeline', async () => {
      const viewer = new LiveViewer({ port: 0 });
      await viewer.ready;
      try {
        await runTrip([viewer]);
        await openViewer(page, viewer);
        await page.waitForFunction(() => document.querySelectorAll('#rows .row').length === 6);
        expect(await rowTexts(page)).toEqual(TRIP_ROWS);
        await rowNamed(page, 'FakeChatModel').click();
        const details = (await page.textContent('#details')) ?? '';
        expect(details).toMatch(/\d+ tokens · time to first token: \d+ ms · [\d.]+ tokens\/s/);
        expect(details).toContain('Model parameters');
        expect(await page.locator('#details .token-mark').count()).toBeGreaterThan(1);
        await page.screenshot({ path: join(SCREENSHOTS, 'live-model-details.png') });
      } finally {
        await viewer.close();
      }
    });

    it('keeps only the last `maxRootRuns` traces, in the server and in open pages', async () => {
      const viewer = new LiveViewer({ port: 0, maxRootRuns: 2 });
      await viewer.ready;
      try {
        await runTrip([viewer], 'Lisbon');
        await runTrip([viewer], 'Porto');
        await openViewer(page, viewer);
        await page.waitForFunction(() => document.getElementById('summary')?.textContent?.startsWith('12 runs · 2 traces'));
        await runTrip([viewer], 'Faro');
        await page.waitForFunction(() => document.getElementById('summary')?.textContent?.startsWith('12 runs · 2 traces · 4 errors · live'));
        await page.fill('#filter-tag', 'city:lisbon');
        expect(await rowTexts(page)).toEqual([]);
        await page.fill('#filter-tag', 'city:faro');
        expect(await rowTexts(page)).toEqual(TRIP_ROWS);
        await page.fill('#filter-tag', '');
        // A page opened now gets the same two traces.
        await openViewer(page, viewer);
        await page.waitForFunction(() => document.getElementById('summary')?.textContent?.startsWith('12 runs · 2 traces'));
      } finally {
        await viewer.close();
      }
    });

    it('close() disconnects open pages, frees the port and leaves nothing running', async () => {
      const before = await tcpServers();
      const viewer = new LiveViewer({ port: 0 });
      await viewer.ready;
      const url = viewer.url as string;
      expect(await tcpServers()).toBe(before + 1);
      await openViewer(page, viewer);
      await viewer.close();
      await page.waitForFunction(() => !document.getElementById('summary')?.textContent?.endsWith(' live'));
      await expect(statusOf(url, '/')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      expect(await tcpServers()).toBe(before);
      await expect(viewer.close()).resolves.toBeUndefined();
      // Runs after close are ignored, and never fail.
      await runTrip([viewer]);
      await page.goto('about:blank');
    });
  });
});
