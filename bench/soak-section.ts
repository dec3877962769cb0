/**
 * The "## Reliability" section of BENCHMARKS.md belongs to `npm run soak` (bench/soak.ts);
 * `npm run bench` (bench/run.ts) rewrites the rest of the file and keeps this section as it was.
 */

export const RELIABILITY_HEADING = '## Reliability';

/** The section (its heading up to the next `## ` heading or the end), or undefined. */
export function reliabilitySection(markdown: string): string | undefined {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.trimEnd() === RELIABILITY_HEADING);
  if (start < 0) return undefined;
  let end = lines.findIndex((line, i) => i > start && line.startsWith('## '));
  if (end < 0) end = lines.length;
  return lines.slice(start, end).join('\n').trimEnd() + '\n';
}

/** `markdown` with its Reliability section replaced by `section`, or with `section` appended. Other sections are left as they are. */
export function withReliabilitySection(markdown: string, section: string): string {
  const body = section.trimEnd() + '\n';
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => line.trimEnd() === RELIABILITY_HEADING);
  if (start < 0) return `${markdown.trimEnd()}\n\n${body}`;
  const end = lines.findIndex((line, i) => i > start && line.startsWith('## '));
  if (end < 0) return `${lines.slice(0, start).join('\n')}${start > 0 ? '\n' : ''}${body}`;
  return `${lines.slice(0, start).join('\n')}${start > 0 ? '\n' : ''}${body}\n${lines.slice(end).join('\n')}`;
}
