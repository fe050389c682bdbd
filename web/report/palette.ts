/** Colours that stay apart for the common colour-vision deficiencies (Okabe–Ito based). */
export const COLORS = {
  users: '#8a94a6',
  hits: '#0072b2',
  errors: '#d55e00',
  timeouts: '#e69f00',
  p50: '#009e73',
  p95: '#0072b2',
  p99: '#cc79a7',
  max: '#8a94a6',
  curve: '#0072b2',
} as const

/** Regions, in order. */
export const SERIES = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000', '#f0e442']

/** Status codes by class, then error kinds: greens and blues for success, warm for failure. */
export function statusColor(status: string, index: number): string {
  const shades: Record<string, string[]> = {
    '1': ['#9ecae1'],
    '2': ['#009e73', '#57c4a3', '#006e50'],
    '3': ['#56b4e9', '#2b8cc4'],
    '4': ['#e69f00', '#f5c45e', '#b37b00'],
    '5': ['#d55e00', '#f08a4b', '#a34700'],
  }
  const list = shades[status[0] ?? ''] ?? ['#8a94a6']
  return list[index % list.length]!
}

export const ERROR_COLORS: Record<string, string> = {
  dns: '#7f3c8d',
  connect: '#a3245e',
  tls: '#cc79a7',
  socket: '#882255',
  parse: '#aa4499',
  status: '#e15759',
  refused: '#444444',
  other: '#999933',
  timeouts: '#e69f00',
}
