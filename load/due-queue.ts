/**
 * Due times waiting for a connection (the open model) or a visitor (a transaction's open
 * model), oldest first: a ring of doubles that grows by doubling.
 *
 * Why not an array: a run's fresh `[]` holds small integers until its first due time (a
 * double) is pushed, which changes the array's elements kind, and the run's optimized
 * `pump` deoptimized there — at the first wait of every run (`--trace-deopt`: "not a Smi"
 * at the push), recompiling just when the process is behind.
 */
export class DueQueue {
  #items = new Float64Array(64)
  #head = 0
  #size = 0

  get size(): number {
    return this.#size
  }

  push(due: number): void {
    if (this.#size === this.#items.length) this.#grow()
    this.#items[(this.#head + this.#size) & (this.#items.length - 1)] = due
    this.#size++
  }

  /** The oldest due time, removed; the queue must not be empty. */
  shift(): number {
    const due = this.#items[this.#head]!
    this.#head = (this.#head + 1) & (this.#items.length - 1)
    this.#size--
    return due
  }

  /** Empties the queue; returns how many it held. */
  clear(): number {
    const size = this.#size
    this.#head = this.#size = 0
    return size
  }

  #grow(): void {
    const items = new Float64Array(this.#items.length * 2)
    for (let i = 0; i < this.#size; i++) items[i] = this.#items[(this.#head + i) & (this.#items.length - 1)]!
    this.#items = items
    this.#head = 0
  }
}
