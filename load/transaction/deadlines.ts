/** Something in flight with a deadline, linked into one FIFO queue. */
export interface Expiring {
  deadline: number
  prev: Expiring | null
  next: Expiring | null
  queue: Fifo | null
  expire(): void
}

/** Items with one timeout, in send order: that is deadline order, so expiry pops the head. */
class Fifo {
  head: Expiring | null = null
  tail: Expiring | null = null
}

/**
 * The transaction path's timeouts: steps may have different timeouts, so one FIFO per
 * distinct timeout (a handful per transaction), each still O(1) per request, one timer
 * for the process, as the single-request path's TimeoutQueue.
 */
export class Deadlines {
  readonly #queues = new Map<number, Fifo>()
  readonly #timer: NodeJS.Timeout

  constructor(shortestTimeoutMs: number) {
    const sweepEvery = Math.max(5, Math.min(50, Math.floor(shortestTimeoutMs / 20)))
    this.#timer = setInterval(() => this.sweep(performance.now()), sweepEvery)
  }

  push(item: Expiring, now: number, timeoutMs: number): void {
    let queue = this.#queues.get(timeoutMs)
    if (!queue) {
      queue = new Fifo()
      this.#queues.set(timeoutMs, queue)
    }
    item.deadline = now + timeoutMs
    item.queue = queue
    item.next = null
    item.prev = queue.tail
    if (queue.tail) queue.tail.next = item
    else queue.head = item
    queue.tail = item
  }

  remove(item: Expiring): void {
    const queue = item.queue
    if (queue === null) return
    item.queue = null
    item.deadline = 0
    if (item.prev) item.prev.next = item.next
    else queue.head = item.next
    if (item.next) item.next.prev = item.prev
    else queue.tail = item.prev
    item.prev = item.next = null
  }

  sweep(now: number): void {
    for (const queue of this.#queues.values()) {
      let head = queue.head
      while (head !== null && head.deadline <= now) {
        this.remove(head)
        head.expire()
        head = queue.head
      }
    }
  }

  close(): void {
    clearInterval(this.#timer)
  }
}

export type { Fifo }
