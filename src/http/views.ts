// Server-rendered pages: eta templates from views/, escaped by default, cached after first use.
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

/** views/ at the package root, from both src/ (tests) and dist/src/ (production). */
export const viewsDir = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../views' : '../../views', import.meta.url));

export type Render = (template: string, data: Record<string, unknown>) => string;

/** `base` is the issuer's path ('' or '/id'), prefixed to every link and form action. */
export function createRenderer(base: string, dir = viewsDir): Render {
  const eta = new Eta({ views: dir, cache: true, autoEscape: true, autoTrim: false });
  return (template, data) => eta.render(template, { title: 'Accouch', base, ...data });
}
