import { UsageError } from '../errors.js'

/**
 * A text with `#{name}` placeholders, compiled once into its parts: literal texts and
 * variable slots. Rendering is a join, never a parse, on every request.
 */
export interface Template {
  /** Literal texts; `slots[i]` goes between `texts[i]` and `texts[i + 1]`. */
  texts: string[]
  slots: number[]
  /** True when the text has no placeholder: it can be prepared once like a plain request. */
  constant: boolean
}

/**
 * Compiles `text`; `slotOf` maps a variable name to its slot (undefined: unknown; a text:
 * why the name cannot be used there).
 * `where` names the place for errors, e.g. `step login: url`.
 */
export function compileTemplate(
  text: string,
  slotOf: (name: string) => number | string | undefined,
  where: string,
): Template {
  const texts: string[] = []
  const slots: number[] = []
  let from = 0
  for (;;) {
    const open = text.indexOf('#{', from)
    if (open < 0) break
    const close = text.indexOf('}', open + 2)
    if (close < 0) throw new UsageError(`${where}: unterminated #{ at character ${open + 1}`)
    const name = text.slice(open + 2, close).trim()
    const slot = slotOf(name)
    if (slot === undefined) throw new UsageError(`${where}: unknown variable "${name}"`)
    if (typeof slot === 'string') throw new UsageError(`${where}: ${slot}`)
    texts.push(text.slice(from, open))
    slots.push(slot)
    from = close + 1
  }
  texts.push(text.slice(from))
  return { texts, slots, constant: slots.length === 0 }
}

/** The names a text uses, without checking them (for listing what a step reads). */
export function templateNames(text: string): string[] {
  const names: string[] = []
  for (const match of text.matchAll(/#\{([^}]*)\}/g)) names.push(match[1]!.trim())
  return names
}

export function renderTemplate(template: Template, values: readonly string[]): string {
  const { texts, slots } = template
  if (slots.length === 0) return texts[0]!
  let out = texts[0]!
  for (let i = 0; i < slots.length; i++) out += values[slots[i]!]! + texts[i + 1]!
  return out
}
