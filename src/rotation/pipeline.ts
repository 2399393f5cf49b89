import type { DekRecord } from '../store/repositories.js';

/** Reads the page of DEK rows after the id `after` (from the start when undefined), in id order. */
export type PageReader = (after: string | undefined) => Promise<DekRecord[]>;

/** The steps of a pass over DEK rows, page by page. */
export interface PagePass<P> {
  read: PageReader;
  /** Keeps only the rows of a page that the pass handles; all of them when undefined. */
  select?: (record: DekRecord) => boolean;
  /** The provider work of a page. Must not reject: a failed row is part of its result. */
  prepare: (records: DekRecord[]) => Promise<P>;
  /** Writes or counts the result of one page. Pages arrive in id order, one at a time. */
  consume: (prepared: P) => Promise<void>;
  /** Pages whose provider work is started before the page before them is consumed. */
  depth: number;
  /** Stops reading new pages; pages already read are still prepared and consumed. */
  stopped: () => boolean;
}

/** A page whose provider work was started, and whether that work has ended. */
interface PageInFlight<P> {
  prepared: Promise<P>;
  settled: boolean;
}

/**
 * Runs a pass with the provider work of up to `depth` pages in flight. While one page is consumed,
 * for example written to the database, the HSM already works on the next ones. Reading stops early
 * when the oldest page is ready, so that the first write does not wait until `depth` pages were
 * read. Paging by the last id read ends even while rows change, because each page starts strictly
 * after the previous one. When consume() throws, the pass ends with that error and the pages still
 * in flight are dropped.
 */
export async function runPagePass<P>(pass: PagePass<P>): Promise<void> {
  const queue: Array<PageInFlight<P>> = [];
  let after: string | undefined;
  let exhausted = false;

  for (;;) {
    while (
      !exhausted &&
      queue.length < pass.depth &&
      queue[0]?.settled !== true &&
      !pass.stopped()
    ) {
      const page = await pass.read(after);
      if (page.length === 0) {
        exhausted = true;
        break;
      }
      after = page.at(-1)?.id;

      const records = pass.select === undefined ? page : page.filter(pass.select);
      if (records.length > 0) {
        queue.push(start(pass, records));
      }
    }

    const next = queue.shift();
    if (next === undefined) {
      return;
    }
    await pass.consume(await next.prepared);
  }
}

function start<P>(pass: PagePass<P>, records: DekRecord[]): PageInFlight<P> {
  const page: PageInFlight<P> = { prepared: pass.prepare(records), settled: false };
  const settle = (): void => {
    page.settled = true;
  };
  // A page dropped after a failed consume() must not surface as an unhandled rejection.
  page.prepared.then(settle, settle);
  return page;
}
