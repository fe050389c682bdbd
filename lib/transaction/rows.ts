import type { Share } from '../pattern.js'

/**
 * How iterations take data rows:
 * - `sequential`: the next row, wrapping around at the end;
 * - `random`: any row, drawn by the user's generator;
 * - `unique`: the next row never taken anywhere in the rush; none left means the user stops.
 * Rows are numbered like users: the process holding share `{index, of}` of the whole rush
 * (region → engine → process, nested into one flat share) owns rows `index`, `index + of`,
 * `index + 2·of`, … and takes them in that order. Shares partition the numbers, so a
 * `unique` row is used at most once across every region, engine and process, with no
 * coordination at all.
 */
export type RowMode = 'sequential' | 'random' | 'unique'
export const ROW_MODES: readonly RowMode[] = ['sequential', 'random', 'unique']

export class RowPicker {
  readonly #rows: number
  readonly #share: Share
  readonly #mode: RowMode
  /** How many rows this process took so far. */
  #taken = 0

  constructor(rows: number, share: Share, mode: RowMode) {
    this.#rows = rows
    this.#share = share
    this.#mode = mode
  }

  /** The row number for the next iteration, or -1 when `unique` rows are used up. */
  next(random: () => number): number {
    const rows = this.#rows
    if (rows === 0) return -1
    if (this.#mode === 'random') return Math.floor(random() * rows)
    const number = this.#share.index + this.#taken * this.#share.of
    if (this.#mode === 'unique') {
      if (number >= rows) return -1
      this.#taken++
      return number
    }
    this.#taken++
    return number % rows
  }

  /** Unique rows this share owns in all (what it can use before running out). */
  get owned(): number {
    const { index, of } = this.#share
    return this.#rows > index ? Math.floor((this.#rows - index - 1) / of) + 1 : 0
  }
}
