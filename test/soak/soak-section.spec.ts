import { reliabilitySection, withReliabilitySection } from '../../bench/soak-section.js';

/** `npm run soak` owns the "## Reliability" section of BENCHMARKS.md; `npm run bench` keeps it. */
describe('the Reliability section of BENCHMARKS.md', () => {
  const bench = '# Benchmarks\n\nintro\n\n## 1. A\n\ntable A\n\n## 2. B\n\ntable B\n';
  const soak = '## Reliability\n\nWritten by `npm run soak`.\n\n| a | b |\n';

  it('is appended when missing, the other sections untouched', () => {
    const md = withReliabilitySection(bench, soak);
    expect(md).toBe(`${bench}\n${soak}`);
    expect(reliabilitySection(md)).toBe(soak);
    expect(reliabilitySection(bench)).toBeUndefined();
  });

  it('is replaced in place, at the end or between two sections', () => {
    const newer = '## Reliability\n\nnewer\n';
    expect(withReliabilitySection(`${bench}\n${soak}`, newer)).toBe(`${bench}\n${newer}`);
    const middle = '# Benchmarks\n\n## 1. A\n\ntable A\n\n## Reliability\n\nold\n\n## 2. B\n\ntable B\n';
    expect(withReliabilitySection(middle, newer)).toBe('# Benchmarks\n\n## 1. A\n\ntable A\n\n## Reliability\n\nnewer\n\n## 2. B\n\ntable B\n');
    expect(reliabilitySection(middle)).toBe('## Reliability\n\nold\n');
  });
});
