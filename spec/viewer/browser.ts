import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

// The browser specs drive Debian's chromium through playwright-core: no browser download, no network.
// Without chromium they fail (never skip): `.ci/run` installs it, `apt-get install -y chromium` does here.

export const CHROMIUM = '/usr/bin/chromium';

/** Where the browser specs write their screenshots (ignored by git). */
export const SCREENSHOTS = join(__dirname, '__screenshots__');

/** One headless chromium with a fresh profile, for one spec file. */
export interface Browser {
  readonly context: BrowserContext;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * Starts headless chromium with a fresh, temporary profile.
 *
 * @throws {Error} when chromium is not installed, saying how to install it.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `The viewer's browser specs need Debian's chromium at ${CHROMIUM}, which is missing. Install it with ` +
        '`apt-get update && apt-get install -y chromium` (.ci/run does this).',
    );
  }
  mkdirSync(SCREENSHOTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'callscope-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1280, height: 640 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A row of the waterfall as the page shows it. */
export interface ShownRow {
  readonly depth: number;
  readonly type: string;
  readonly name: string;
  readonly error: boolean;
  readonly selected: boolean;
}

/** The rows in the page's DOM, top to bottom (only the rendered ones: the list is virtualised). */
export async function rowsOf(page: Page): Promise<ShownRow[]> {
  return page.$$eval('#rows .row', (rows) =>
    rows
      .map((row) => row as HTMLElement)
      .sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))
      .map((row) => ({
        depth: Number(row.dataset.depth),
        type: row.querySelector('.badge')?.textContent ?? '',
        name: row.querySelector('.name')?.textContent ?? '',
        error: row.classList.contains('error'),
        selected: row.classList.contains('selected'),
      })),
  );
}

/** `depth type name` for each row, for compact expectations. */
export async function rowTexts(page: Page): Promise<string[]> {
  return (await rowsOf(page)).map((row) => `${row.depth} ${row.type} ${row.name}`);
}

/** The row of the run named `name`. */
export function rowNamed(page: Page, name: string) {
  return page.locator('#rows .row', { has: page.locator('.name', { hasText: new RegExp(`^${name}$`) }) });
}
