import type { ChainFinding } from './report.js';

/** Findings kept in a report at most; a rewritten chain could otherwise yield one per event. */
export const MAX_FINDINGS = 1000;

/** The findings of one verification, capped at MAX_FINDINGS; the rest are only counted. */
export class FindingList {
  readonly list: ChainFinding[] = [];
  omitted = 0;

  add(finding: ChainFinding): void {
    if (this.list.length >= MAX_FINDINGS) {
      this.omitted += 1;
      return;
    }
    this.list.push(finding);
  }

  sorted(): ChainFinding[] {
    return [...this.list].sort((a, b) => a.seq - b.seq);
  }
}
