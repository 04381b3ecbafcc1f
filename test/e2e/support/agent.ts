// A user agent over fetch: a cookie jar, manual redirects, and the form posts a person makes on our pages.
import { expect } from 'vitest';

export class Agent {
  readonly cookies = new Map<string, string>();

  constructor(private readonly headers: Record<string, string> = {}) {}

  private store(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]!) < Date.now()));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...this.headers, ...(cookie ? { cookie } : {}), ...(init.headers as Record<string, string>) },
    });
    this.store(res);
    return res;
  }

  get(url: string | URL) {
    return this.request(url);
  }

  post(url: string | URL, form: Record<string, string>) {
    return this.request(url, { method: 'POST', body: new URLSearchParams(form), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }

  /** Follows redirects until one leaves `origin` (returned, not followed) or a page answers. */
  async follow(url: string | URL, origin: string, first?: Response): Promise<{ res: Response; url: URL }> {
    let current = new URL(url);
    let res = first ?? (await this.get(current));
    for (let hops = 0; hops < 10 && res.status >= 300 && res.status < 400; hops += 1) {
      const next = new URL(res.headers.get('location')!, current);
      if (next.origin !== origin) return { res, url: next };
      current = next;
      res = await this.get(current);
    }
    return { res, url: current };
  }
}

/** The value of a hidden or text input in an HTML page. */
export function inputValue(html: string, name: string): string | undefined {
  const tag = html.match(new RegExp(`<input[^>]*name="${name}"[^>]*>`))?.[0];
  return tag?.match(/value="([^"]*)"/)?.[1];
}

export function formAction(html: string, suffix: string): string {
  const action = [...html.matchAll(/<form[^>]*action="([^"]*)"/g)].map((m) => m[1]!).find((a) => a.endsWith(suffix));
  expect(action, `form ending in ${suffix}`).toBeDefined();
  return action!.replace(/&amp;/g, '&');
}
