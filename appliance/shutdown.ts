import type { ChildProcess } from 'node:child_process'
import { StampedeError } from '../lib/errors.js'

/** Stops one thing; a string it returns says how it ended (default "stopped"). */
type Stop = () => unknown

/**
 * Everything the appliance started, stopped in reverse order: engines drain before the
 * databases they write to go away. Ctrl-C (or SIGTERM) asks for it; a second one kills what is
 * left. The children run in their own process groups (a terminal's Ctrl-C reaches only this
 * process, which stops them in order), so on any exit the ones still alive are killed here.
 */
export class Shutdown {
  /** Keep the engine logs (something went wrong): the step that removes them reads this. */
  keepLogs = false
  /** Resolves on the first Ctrl-C/SIGTERM. */
  readonly requested: Promise<void>
  /** The run is waiting for Ctrl-C (--keep): it ends the run normally, not as an interruption. */
  awaited = false
  readonly #report: (line: string) => void
  readonly #steps: { name: string; stop: Stop }[] = []
  readonly #pids = new Set<number>()
  #request!: () => void
  #stopping: Promise<void> | undefined
  #signals = 0
  #suspended = false

  constructor(options: { report: (line: string) => void }) {
    this.#report = options.report
    this.requested = new Promise((resolve) => {
      this.#request = resolve
    })
    process.on('SIGINT', this.#onSignal)
    process.on('SIGTERM', this.#onSignal)
    process.on('exit', () => {
      for (const pid of this.#pids) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
    })
  }

  /** Something to stop, after everything added later. Once stopping began, it is stopped at once and start-up ends. */
  add(name: string, stop: Stop, child?: ChildProcess): void {
    if (child) this.track(child.pid, new Promise((resolve) => child.once('exit', resolve)))
    if (this.#stopping) {
      void Promise.resolve(stop()).catch(() => {})
      throw new StampedeError('STAMPEDE_APPLIANCE_INTERRUPTED', 'interrupted while starting')
    }
    this.#steps.push({ name, stop })
  }

  /** A process to kill if this one exits before that one has. */
  track(pid: number | undefined, exited: Promise<unknown>): void {
    if (pid === undefined) return
    this.#pids.add(pid)
    void exited.then(() => this.#pids.delete(pid))
  }

  /** Runs `work` with Ctrl-C left to it (the rush command aborts its rush and reports). */
  async suspended<T>(work: () => Promise<T>): Promise<T> {
    this.#suspended = true
    try {
      return await work()
    } finally {
      this.#suspended = false
    }
  }

  stopAll(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#report('stopping:')
      for (const step of this.#steps.reverse()) {
        try {
          const outcome = await step.stop()
          this.#report(`  ${step.name}: ${typeof outcome === 'string' ? outcome : 'stopped'}`)
        } catch (err) {
          this.#report(`  ${step.name}: ${(err as Error).message}`)
        }
      }
    })()
    return this.#stopping
  }

  readonly #onSignal = (): void => {
    if (this.#suspended) return
    this.#signals++
    if (this.#signals === 1) {
      this.#report('stopping (Ctrl-C again to kill everything at once)')
      this.#request()
      return
    }
    process.exit(130)
  }
}
