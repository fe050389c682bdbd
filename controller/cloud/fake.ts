/**
 * An in-memory CloudProvider for unit tests of the controllers. It keeps the provider contract
 * (idempotent launch by client token, terminate treating gone as done, eventual consistency
 * when asked), records every call, and injects errors: `failNext('launch', error)` makes the
 * next launch throw, as Karpenter's fake does with `nextCreateErr`. Time is the injected clock.
 */
import { type Clock, systemClock } from '../../lib/clock.js'
import {
  byRegion,
  type CloudInstance,
  type CloudProvider,
  FLEET_TAG,
  type FleetRef,
  fleetTags,
  type InstanceRef,
  type InstanceState,
  type LaunchRequest,
  type TerminateResult,
} from './provider.js'

export interface FakeCloudOptions {
  clock?: Clock
  /** pending → running after this long (default 0: running at once). */
  pendingMs?: number
  /** shutting-down → terminated after this long (default 0). */
  shuttingDownMs?: number
  /** A launched instance is missing from `list` for this long (default 0). */
  visibilityDelayMs?: number
  /** Terminated instances leave `list` after this long (default 1 h). */
  terminatedVisibleMs?: number
}

type Method = 'list' | 'launch' | 'terminate' | 'tag'

interface FakeInstance extends CloudInstance {
  visibleAt: number
  terminatedAt: number | undefined
  /** A state forced by `setState`, which wins over the clock. */
  forced: InstanceState | undefined
}

export class FakeCloudProvider implements CloudProvider {
  readonly listCalls: FleetRef[] = []
  readonly launchCalls: LaunchRequest[] = []
  readonly terminateCalls: InstanceRef[][] = []
  readonly tagCalls: Array<{ instances: InstanceRef[]; tags: Record<string, string> }> = []
  readonly #clock: Clock
  readonly #options: Required<Omit<FakeCloudOptions, 'clock'>>
  readonly #instances = new Map<string, FakeInstance>()
  readonly #tokens = new Map<string, string[]>()
  #errors: Array<{ method: Method; error: Error }> = []
  #seq = 0

  constructor(options: FakeCloudOptions = {}) {
    this.#clock = options.clock ?? systemClock
    this.#options = {
      pendingMs: options.pendingMs ?? 0,
      shuttingDownMs: options.shuttingDownMs ?? 0,
      visibilityDelayMs: options.visibilityDelayMs ?? 0,
      terminatedVisibleMs: options.terminatedVisibleMs ?? 3600_000,
    }
  }

  /** The next call of `method` throws `error` (queue several to fail several calls). */
  failNext(method: Method, error: Error, times = 1): void {
    for (let i = 0; i < times; i++) this.#errors.push({ method, error })
  }

  /** Puts an instance in the cloud as if launched earlier (visible at once). */
  add(instance: Partial<CloudInstance> & { region: string; fleet?: string }): CloudInstance {
    const { fleet, ...rest } = instance
    const now = this.#clock.now()
    const added: FakeInstance = {
      id: rest.id ?? this.#nextId(),
      az: `${rest.region}a`,
      type: 'c7g.large',
      state: 'running',
      launchTime: now,
      ...rest,
      tags: { ...(fleet !== undefined && fleetTags(fleet)), ...rest.tags },
      visibleAt: now,
      terminatedAt: rest.state === 'terminated' ? now : undefined,
      forced: rest.state ?? 'running',
    }
    this.#instances.set(added.id, added)
    return this.#view(added)
  }

  /** Forces a state (say `terminated`, as if the instance died). */
  setState(id: string, state: InstanceState): void {
    const instance = this.#instances.get(id)
    if (!instance) throw new Error(`fake cloud: no instance ${id}`)
    instance.forced = state
    if (state === 'terminated' && instance.terminatedAt === undefined)
      instance.terminatedAt = this.#clock.now()
  }

  /** Every instance, visible or not, with its current state. */
  all(): CloudInstance[] {
    return [...this.#instances.values()].map((i) => this.#view(i))
  }

  get(id: string): CloudInstance | undefined {
    const instance = this.#instances.get(id)
    return instance && this.#view(instance)
  }

  /** Forgets instances, calls and queued errors. */
  reset(): void {
    this.#instances.clear()
    this.#tokens.clear()
    this.#errors = []
    this.listCalls.length = 0
    this.launchCalls.length = 0
    this.terminateCalls.length = 0
    this.tagCalls.length = 0
  }

  async list(fleet: FleetRef): Promise<CloudInstance[]> {
    this.listCalls.push(fleet)
    this.#throwIfQueued('list')
    return [...this.#instances.values()]
      .filter((i) => fleet.regions.includes(i.region) && i.tags[FLEET_TAG] === fleet.name && this.#visible(i))
      .map((i) => this.#view(i))
  }

  async launch(request: LaunchRequest): Promise<CloudInstance[]> {
    this.launchCalls.push(request)
    this.#throwIfQueued('launch')
    const key = `${request.region}\n${request.clientToken}`
    const earlier = this.#tokens.get(key)
    if (earlier) return earlier.map((id) => this.#view(this.#instances.get(id)!))
    const now = this.#clock.now()
    const launched: FakeInstance[] = []
    for (let i = 0; i < request.count; i++) {
      const instance: FakeInstance = {
        id: this.#nextId(),
        region: request.region,
        az: request.az ?? `${request.region}${'abc'[this.#seq % 3]}`,
        type: request.instanceType,
        state: 'pending',
        launchTime: now,
        tags: { ...request.tags, ...fleetTags(request.fleet) },
        imageId: request.imageId,
        clientToken: request.clientToken,
        visibleAt: now + this.#options.visibilityDelayMs,
        terminatedAt: undefined,
        forced: undefined,
      }
      this.#instances.set(instance.id, instance)
      launched.push(instance)
    }
    this.#tokens.set(
      key,
      launched.map((i) => i.id),
    )
    return launched.map((i) => this.#view(i))
  }

  async terminate(instances: readonly InstanceRef[]): Promise<TerminateResult[]> {
    this.terminateCalls.push([...instances])
    this.#throwIfQueued('terminate')
    const results: TerminateResult[] = []
    for (const [region, group] of byRegion(instances)) {
      for (const { id } of group) {
        const instance = this.#instances.get(id)
        if (!instance || instance.region !== region || !this.#visible(instance)) {
          results.push({ id, region, state: 'gone' })
          continue
        }
        if (instance.terminatedAt === undefined) instance.terminatedAt = this.#clock.now()
        if (instance.forced !== 'terminated') instance.forced = undefined
        results.push({ id, region, state: this.#state(instance) })
      }
    }
    return results
  }

  async tag(instances: readonly InstanceRef[], tags: Record<string, string>): Promise<void> {
    this.tagCalls.push({ instances: [...instances], tags: { ...tags } })
    this.#throwIfQueued('tag')
    for (const { id, region } of instances) {
      const instance = this.#instances.get(id)
      if (instance && instance.region === region && this.#visible(instance))
        Object.assign(instance.tags, tags)
    }
  }

  #throwIfQueued(method: Method): void {
    const index = this.#errors.findIndex((e) => e.method === method)
    if (index >= 0) {
      const [queued] = this.#errors.splice(index, 1)
      throw queued!.error
    }
  }

  #nextId(): string {
    return `i-${(++this.#seq).toString(16).padStart(17, '0')}`
  }

  #state(instance: FakeInstance): InstanceState {
    if (instance.forced) return instance.forced
    const now = this.#clock.now()
    if (instance.terminatedAt !== undefined) {
      return now < instance.terminatedAt + this.#options.shuttingDownMs ? 'shutting-down' : 'terminated'
    }
    return now < instance.launchTime + this.#options.pendingMs ? 'pending' : 'running'
  }

  #visible(instance: FakeInstance): boolean {
    const now = this.#clock.now()
    if (now < instance.visibleAt) return false
    if (instance.terminatedAt === undefined) return true
    return now < instance.terminatedAt + this.#options.shuttingDownMs + this.#options.terminatedVisibleMs
  }

  #view(instance: FakeInstance): CloudInstance {
    const { visibleAt: _v, terminatedAt: _t, forced: _f, ...rest } = instance
    return { ...rest, tags: { ...rest.tags }, state: this.#state(instance) }
  }
}
