/** HTML-escaped text, so that task names and error messages can never become markup. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

type Fragment = SafeHtml | string | number | boolean | null | undefined | Fragment[];

const render = (value: Fragment): string => {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
};

/** Marks a constant of this library's own (the page's style and script) as markup. Never for data. */
export const raw = (trusted: string): SafeHtml => new SafeHtml(trusted);

/** Template tag: every interpolated value is escaped, except `SafeHtml` built by this same tag. */
export function html(strings: TemplateStringsArray, ...values: Fragment[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((value, i) => (out += render(value) + strings[i + 1]!));
  return new SafeHtml(out);
}
