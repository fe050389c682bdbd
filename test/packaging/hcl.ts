/**
 * Just enough HCL to read back a block of the Packer template that `packer validate` cannot
 * check here (Debian's Packer 1.6 does not know it): attributes with string, number or bool
 * literals, and nested blocks. Anything else is an error, so nothing in the block goes unread.
 */
export type HclValue = string | number | boolean | HclBody
export interface HclBody {
  [name: string]: HclValue
}

export function parseHclBody(text: string): HclBody {
  const lines = text
    .split('\n')
    .map((line) => line.replace(/^\s*#.*$/, '').trim())
    .filter(Boolean)
  let at = 0
  const body = (nested: boolean): HclBody => {
    const out: HclBody = {}
    while (at < lines.length) {
      const line = lines[at++]!
      if (line === '}') {
        if (!nested) throw new Error('HCL: a "}" closes nothing')
        return out
      }
      const open = /^([A-Za-z_][\w-]*)\s*\{$/.exec(line)
      if (open) {
        if (open[1]! in out) throw new Error(`HCL: ${open[1]} set twice`)
        out[open[1]!] = body(true)
        continue
      }
      const attribute = /^([A-Za-z_][\w-]*)\s*=\s*(.+)$/.exec(line)
      if (!attribute) throw new Error(`HCL: cannot read "${line}"`)
      const [, name, raw] = attribute as unknown as [string, string, string]
      if (name in out) throw new Error(`HCL: ${name} set twice`)
      out[name] = literal(raw)
    }
    if (nested) throw new Error('HCL: a block is not closed')
    return out
  }
  return body(false)
}

function literal(raw: string): string | number | boolean {
  if (/^"(?:[^"\\$]|\\.)*"$/.test(raw)) return JSON.parse(raw) as string
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw)
  if (raw === 'true' || raw === 'false') return raw === 'true'
  throw new Error(`HCL: not a literal: ${raw}`)
}
