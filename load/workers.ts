import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { UsageError } from '../lib/errors.js'

/** File descriptors a load process keeps for itself (IPC, stdio, DNS, logs). */
const RESERVED_FDS = 256

/** The soft open-file limit of this process (Linux), or a conservative guess elsewhere. */
export function openFileLimit(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8')
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits)
    if (match) return match[1] === 'unlimited' ? 1_048_576 : Number(match[1])
  } catch {
    // Not Linux: fall through.
  }
  return 1024
}

export interface WorkerPlanInput {
  /** 'auto', or an explicit count (0: run in this process). */
  requested: number | 'auto'
  peakConnections: number
  cores: number
  fdLimit: number
}

/**
 * How many load processes a job needs. Each connection is a file, and the open-file
 * limit is per process, so a big rush needs several processes whatever the core count;
 * 'auto' also uses every core, but never more processes than connections.
 */
export function planWorkers({ requested, peakConnections, cores, fdLimit }: WorkerPlanInput): number {
  const perProcess = Math.max(1, fdLimit - RESERVED_FDS)
  const needed = Math.ceil(peakConnections / perProcess)
  if (requested === 'auto') return Math.max(needed, Math.min(cores, Math.max(1, peakConnections)))
  const capacity = Math.max(1, requested) * perProcess
  if (peakConnections > capacity) {
    throw new UsageError(
      `${peakConnections} connections need at least ${needed} load processes (open-file limit ${fdLimit} per process); use --workers ${needed} or more`,
    )
  }
  return requested
}

export function defaultCores(): number {
  return availableParallelism()
}
