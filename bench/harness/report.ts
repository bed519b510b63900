/** What a scenario reports, and how reports are rendered: a plain-text table for the console, Markdown for RESULTS.md. */

/** A table of already formatted cells. */
export interface Table {
  /** Shown above the table. */
  readonly caption?: string;
  readonly headers: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** One target of the issue, checked against what this run measured. */
export interface TargetCheck {
  /** The target as the issue states it. */
  readonly target: string;
  /** What was measured, formatted. */
  readonly observed: string;
  readonly pass: boolean;
}

/** Everything one scenario measured. */
export interface ScenarioReport {
  /** The scenario's name, as given on the command line: `nested-3`. */
  readonly name: string;
  /** One sentence on what is measured and how. */
  readonly description: string;
  readonly tables: readonly Table[];
  readonly targets: readonly TargetCheck[];
  /** Caveats a reader needs to interpret the numbers. */
  readonly notes: readonly string[];
}

/** A scenario of the suite. */
export interface Scenario<TSizes> {
  readonly name: string;
  /**
   * The scenario times contenders against each other inside the bench process: the suite pins the process's
   * main thread to one CPU while it runs, so that every contender and every round runs on the same core (see
   * harness/affinity.ts).
   */
  readonly onOneCpu?: boolean;
  /** @throws when a verification fails (wrong event counts, say): the suite must not report its time. */
  run(sizes: TSizes): Promise<ScenarioReport>;
}

/** `PASS` or `FAIL`. */
export function verdict(pass: boolean): string {
  return pass ? 'PASS' : 'FAIL';
}

/** Renders a table as aligned plain text. */
export function renderText(table: Table): string {
  const widths = table.headers.map((header, column) =>
    Math.max(header.length, ...table.rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  const caption = table.caption === undefined ? [] : [table.caption];
  return [...caption, line(table.headers), rule, ...table.rows.map(line)].join('\n');
}

/** Renders a table as GitHub-flavoured Markdown. */
export function renderMarkdown(table: Table): string {
  const escape = (cell: string): string => cell.replaceAll('|', '\\|');
  const line = (cells: readonly string[]): string => `| ${cells.map(escape).join(' | ')} |`;
  const caption = table.caption === undefined ? [] : [`${table.caption}`, ''];
  return [...caption, line(table.headers), line(table.headers.map(() => '---')), ...table.rows.map(line)].join('\n');
}

/** The targets of a scenario as a table. */
export function targetTable(report: ScenarioReport): Table {
  return {
    headers: ['target', 'observed', 'result'],
    rows: report.targets.map((check) => [check.target, check.observed, verdict(check.pass)]),
  };
}

/** A scenario's report for the console. */
export function renderScenarioText(report: ScenarioReport): string {
  const parts = [`== ${report.name} ==`, report.description, ...report.tables.map(renderText)];
  if (report.targets.length > 0) parts.push(renderText({ ...targetTable(report), caption: 'Targets' }));
  if (report.notes.length > 0) parts.push(report.notes.map((note) => `note: ${note}`).join('\n'));
  return parts.join('\n\n');
}

/** A scenario's section of RESULTS.md. */
export function renderScenarioMarkdown(report: ScenarioReport): string {
  const parts = [`## ${report.name}`, report.description, ...report.tables.map(renderMarkdown)];
  if (report.targets.length > 0) parts.push(renderMarkdown({ ...targetTable(report), caption: '**Targets**' }));
  if (report.notes.length > 0) parts.push(report.notes.map((note) => `- ${note}`).join('\n'));
  return parts.join('\n\n');
}
