import type Nano from 'nano'
import { viewRows } from '../lib/couch/client.js'

/**
 * The rushes this engine knows are aborted: those with an `abort:` doc in its dispatch db,
 * loaded at start (the feed resumes after them) and added from the feed. An abort is never
 * undone, so the set only grows (one short id per aborted rush).
 */
export class AbortTracker {
  readonly #rushes = new Set<string>()

  /** The aborts written before this start (view `aborts`). */
  async load(dispatch: Nano.DocumentScope<unknown>): Promise<void> {
    for (const row of await viewRows(dispatch, 'aborts', {})) this.#rushes.add(String(row.key))
  }

  /** Notes an abort; true when it is news. */
  add(rush: string): boolean {
    if (this.#rushes.has(rush)) return false
    this.#rushes.add(rush)
    return true
  }

  has(rush: string): boolean {
    return this.#rushes.has(rush)
  }

  /** For the decision (`EngineView.aborted`). */
  get rushes(): ReadonlySet<string> {
    return this.#rushes
  }
}
