import { emptyPoint, type Point } from '../../lib/timeline.js'

/** A point for second `t` with the given fields set (errors merged over zeros). */
export function point(
  t: number,
  fields: Omit<Partial<Point>, 'errors'> & { errors?: Partial<Point['errors']> } = {},
): Point {
  const base = emptyPoint(t)
  const { errors, ...rest } = fields
  return { ...base, ...rest, errors: { ...base.errors, ...errors } }
}
