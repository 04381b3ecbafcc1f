// axe-core in the page under test. Our CSP (script-src 'self') blocks an injected <script>, so the source is
// evaluated through CDP instead (page.evaluate is not subject to the page's CSP).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[]; failureSummary?: string }>;
}

/** Runs axe on the page as it is now (optionally only some rules); returns every violation. */
export async function runAxe(page: Page, rules?: string[]): Promise<AxeViolation[]> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(axeSource);
  return page.evaluate(async (only) => {
    const axe = (globalThis as unknown as { axe: { run(options: object): Promise<{ violations: AxeViolation[] }> } }).axe;
    const { violations } = await axe.run(only ? { runOnly: { type: 'rule', values: only } } : {});
    return violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) }));
  }, rules);
}

/**
 * Fails, listing them, on violations of impact serious or critical; soft, so one run reports every page.
 * `rules` limits the run, e.g. to 'color-contrast' for a second colour scheme.
 */
export async function expectAccessible(page: Page, label: string, rules?: string[]): Promise<void> {
  const serious = (await runAxe(page, rules)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = serious.map((v) => `${v.impact} ${v.id}: ${v.help}\n${v.nodes.map((n) => `    ${n.target.join(' ')}: ${n.failureSummary ?? ''}`).join('\n')}`).join('\n');
  expect.soft(serious, `axe on ${label} (${page.url()}):\n${report}`).toEqual([]);
}
