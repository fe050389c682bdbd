import { randomBytes, randomUUID } from 'node:crypto'
import { UsageError } from '../errors.js'
import { seededRandom, seedOf } from './random.js'

/**
 * blitz.io's variable kinds, in blitz's syntax:
 * - `list[a,b,c]`: one of the values;
 * - `alpha[min,max,count]`: one of `count` random letter strings of `min`..`max` letters;
 * - `number[min,max,count]`: one of `count` random whole numbers in `min`..`max`;
 * - `uuid`: a random UUID (v4), fresh every time;
 * - `udid`: a random 40-hex-digit device id, fresh every time.
 * A variable takes a new value at the start of every iteration of the transaction.
 */
export type VariableSpec =
  | { kind: 'list'; values: string[] }
  | { kind: 'alpha'; min: number; max: number; count: number }
  | { kind: 'number'; min: number; max: number; count: number }
  | { kind: 'uuid' }
  | { kind: 'udid' }

/** Pools larger than this would cost memory in every load process for nothing. */
export const MAX_POOL = 100_000
const DEFAULT_COUNT = 1000
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/

/** Parses `list[a,b]`, `alpha[3,8,100]`, `number[1,10]`, `uuid`, `udid`. */
export function parseVariable(text: string, name = '?'): VariableSpec {
  const fail = (why: string): never => {
    throw new UsageError(`variable ${name}: ${why} in "${text}"`)
  }
  const match = /^\s*([a-z]+)\s*(?:\[(.*)\])?\s*$/s.exec(text)
  if (!match) return fail('expected list[…], alpha[min,max,count], number[min,max,count], uuid or udid')
  const kind = match[1]!
  const args = match[2]
  switch (kind) {
    case 'uuid':
    case 'udid':
      if (args !== undefined) fail(`${kind} takes no arguments`)
      return { kind }
    case 'list': {
      if (args === undefined || args === '') return fail('list needs at least one value')
      return { kind, values: args.split(',') }
    }
    case 'alpha':
    case 'number': {
      if (args === undefined) return fail(`${kind} needs [min,max] or [min,max,count]`)
      const parts = args.split(',').map((part) => part.trim())
      if (parts.length < 2 || parts.length > 3) return fail(`${kind} needs [min,max] or [min,max,count]`)
      const numbers = parts.map(Number)
      if (numbers.some((n) => !Number.isSafeInteger(n))) return fail(`${kind} takes whole numbers`)
      const [min, max, count = DEFAULT_COUNT] = numbers as [number, number, number?]
      if (min > max) return fail('min is above max')
      if (kind === 'alpha' && min < 1) return fail('alpha strings need at least one letter')
      if (count < 1 || count > MAX_POOL) return fail(`count must be 1..${MAX_POOL}`)
      return { kind, min, max, count }
    }
    default:
      return fail(`unknown kind "${kind}"`)
  }
}

export function validateVariable(spec: unknown, name: string): VariableSpec {
  if (typeof spec === 'string') return parseVariable(spec, name)
  const kind = (spec as { kind?: unknown } | null)?.kind
  if (typeof kind !== 'string') throw new UsageError(`variable ${name}: expected a text such as list[a,b]`)
  return parseVariable(formatVariable(spec as VariableSpec), name)
}

export function formatVariable(spec: VariableSpec): string {
  switch (spec.kind) {
    case 'list':
      return `list[${spec.values.join(',')}]`
    case 'alpha':
    case 'number':
      return `${spec.kind}[${spec.min},${spec.max},${spec.count}]`
    default:
      return spec.kind
  }
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'

/** Draws a value: `random` is the user's own generator (uniform in [0, 1)). */
export type Draw = (random: () => number) => string

/**
 * Compiles a variable once per process into a draw. Pools come from a seed made of the
 * variable's name, so every process and engine draws from the same pool.
 */
export function compileVariable(name: string, spec: VariableSpec): Draw {
  switch (spec.kind) {
    case 'list': {
      const values = spec.values
      return (random) => values[Math.floor(random() * values.length)]!
    }
    case 'alpha': {
      const seeded = seededRandom(seedOf(name))
      const pool: string[] = []
      for (let i = 0; i < spec.count; i++) {
        const length = spec.min + Math.floor(seeded() * (spec.max - spec.min + 1))
        let text = ''
        for (let j = 0; j < length; j++) text += LETTERS[Math.floor(seeded() * LETTERS.length)]
        pool.push(text)
      }
      return (random) => pool[Math.floor(random() * pool.length)]!
    }
    case 'number': {
      const seeded = seededRandom(seedOf(name))
      const pool: string[] = []
      for (let i = 0; i < spec.count; i++)
        pool.push(String(spec.min + Math.floor(seeded() * (spec.max - spec.min + 1))))
      return (random) => pool[Math.floor(random() * pool.length)]!
    }
    case 'uuid':
      return () => randomUUID()
    case 'udid':
      return () => randomBytes(20).toString('hex')
  }
}
