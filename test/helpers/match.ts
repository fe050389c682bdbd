import type { Test } from 'tap'

/**
 * `t.match` of a list, element by element, and nothing more: tap's `t.match(actual, [pattern])`
 * checks only a prefix, so an extra launch, drain or terminate after the expected ones passes.
 */
export function matchList(
  t: Pick<Test, 'match' | 'equal'>,
  actual: readonly unknown[] | undefined,
  patterns: readonly unknown[],
  message?: string,
): boolean {
  const length = t.equal(
    actual?.length,
    patterns.length,
    `${message ? `${message}: ` : ''}exactly ${patterns.length} (${JSON.stringify(actual)?.slice(0, 300)})`,
  )
  return t.match(actual, patterns, ...(message === undefined ? [] : [message])) && length
}
