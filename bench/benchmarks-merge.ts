/**
 * `npm run bench -- --write <words>` (bench/run.ts): the sections of the benches that ran replace
 * theirs in BENCHMARKS.md (section and rows of the Targets table and of its Gaps list); every other
 * section, the Reliability one included, is kept as it was.
 */
import type { BenchResult, BenchTarget } from './bench-result.js';

type SectionTarget = BenchTarget & { section: string };

/** Sections, and the Targets table's rows, in figure order ("5a" before "5b", "10" after "9"). */
export const byTitle = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

export const targetRow = (t: SectionTarget): string => `| ${t.section} | ${t.target} | ${t.measured} | ${t.met ? 'yes' : '**no**'} |`;

export const gapLine = (t: SectionTarget): string => `- ${t.section}, ${t.target}: measured ${t.measured}${t.gap ? `; ${t.gap}` : ''} (see the section).`;

/** How the header line of a partial run begins (bench/run.ts writes it). */
const PARTIAL_LINE = '- Sections written by a partial run';

const sectionOfRow = (row: string): string => row.slice(2, row.indexOf(' | '));

/** `markdown` (a BENCHMARKS.md written by bench/run.ts) with the sections of `results` put in; `note` joins the header's list. */
export function mergeResults(markdown: string, results: BenchResult[], note: string): string {
  const lines = markdown.split('\n');
  const targetsAt = lines.findIndex((l) => l.trimEnd() === '## Targets');
  if (targetsAt < 0) throw new Error('BENCHMARKS.md has no "## Targets" section: run the whole `npm run bench` once');
  const titles = new Set(results.map((r) => r.title));
  const fresh = results.flatMap((r) => r.targets.map((t) => ({ ...t, section: r.title })));

  // Header: its list, with this partial run's line added. An earlier partial run's line keeps the
  // sections it still stands for (those this run did not rewrite), and goes when none is left.
  const head = lines
    .slice(0, targetsAt)
    .join('\n')
    .trimEnd()
    .split('\n')
    .flatMap((l) => {
      if (!l.startsWith(PARTIAL_LINE)) return [l];
      const at = l.lastIndexOf('): ');
      const left = l.slice(at + 3).split('; ').filter((title) => !titles.has(title));
      return left.length > 0 ? [`${l.slice(0, at + 3)}${left.join('; ')}`] : [];
    });
  head.push(note);

  // Targets table and Gaps list.
  let i = targetsAt + 1;
  while (i < lines.length && !lines[i].startsWith('| --- ')) i++;
  const rows: string[] = [];
  for (i++; i < lines.length && lines[i].startsWith('| '); i++) rows.push(lines[i]);
  const gaps: string[] = [];
  let next = lines.findIndex((l, j) => j >= i && l.startsWith('## '));
  if (next < 0) next = lines.length;
  const gapsAt = lines.findIndex((l, j) => j >= i && j < next && l.trimEnd() === '### Gaps');
  if (gapsAt >= 0) for (let j = gapsAt + 1; j < next; j++) if (lines[j].startsWith('- ')) gaps.push(lines[j]);
  const keptRows = rows.filter((row) => !titles.has(sectionOfRow(row)));
  const allRows = [...keptRows, ...fresh.map(targetRow)].sort((a, b) => byTitle(sectionOfRow(a), sectionOfRow(b)));
  const allGaps = [...gaps.filter((g) => ![...titles].some((t) => g.startsWith(`- ${t}, `))), ...fresh.filter((t) => !t.met).map(gapLine)];

  // Sections after the Targets: each from its heading to the next.
  const blocks: Array<{ title: string; text: string }> = [];
  for (let j = next; j < lines.length; ) {
    let end = lines.findIndex((l, k) => k > j && l.startsWith('## '));
    if (end < 0) end = lines.length;
    blocks.push({ title: lines[j].slice(3).trim(), text: lines.slice(j, end).join('\n').trimEnd() });
    j = end;
  }
  const kept = blocks.filter((b) => !titles.has(b.title));
  for (const r of results) {
    const block = { title: r.title, text: [`## ${r.title}`, '', r.method, '', r.markdown].join('\n').trimEnd() };
    // Before the first section that sorts after it (the numbered figures come before "Reliability").
    const at = kept.findIndex((b) => byTitle(b.title, r.title) > 0);
    kept.splice(at < 0 ? kept.length : at, 0, block);
  }

  return [
    ...head,
    '',
    '## Targets',
    '',
    '| figure | target | measured | met |',
    '| --- | --- | --- | --- |',
    ...allRows,
    '',
    ...(allGaps.length ? ['### Gaps', '', ...allGaps, ''] : []),
    kept.map((b) => b.text).join('\n\n'),
    '',
  ].join('\n');
}
