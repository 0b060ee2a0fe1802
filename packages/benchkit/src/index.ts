/**
 * Shared benchmark helpers: every package's `pnpm bench` measures figures the same way (median of
 * repeated runs with their spread) and writes them to `bench/results/<package>.json`, which the root
 * bench merges into one table beside the goals from the issues.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface Figure {
  /** What was measured, e.g. `lmdb durable writes (1 KB, batched)`. */
  readonly name: string
  /** Unit of `median`, e.g. `ops/s`, `ms`, `µs/msg`, `bytes`. */
  readonly unit: string
  readonly median: number
  /** Max minus min over the runs, in `unit`. */
  readonly spread: number
  readonly runs: readonly number[]
  /** The goal from the issue, when there is one. */
  readonly goal?: { readonly op: '>=' | '<='; readonly value: number; readonly issue?: number }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index] as number
}

/** Builds a figure from the per-run values of one measurement. */
export function figure(
  name: string,
  unit: string,
  runs: readonly number[],
  goal?: Figure['goal'],
): Figure {
  return {
    name,
    unit,
    median: median(runs),
    spread: Math.max(...runs) - Math.min(...runs),
    runs,
    ...(goal === undefined ? {} : { goal }),
  }
}

/**
 * Runs `once` (which returns the measured value of one run) `runs` times after `warmup` runs,
 * and returns the figure.
 */
export async function measure(
  name: string,
  unit: string,
  once: () => number | Promise<number>,
  options: { runs?: number; warmup?: number; goal?: Figure['goal'] } = {},
): Promise<Figure> {
  const { runs = 5, warmup = 1 } = options
  for (let i = 0; i < warmup; i++) await once()
  const values: number[] = []
  for (let i = 0; i < runs; i++) values.push(await once())
  return figure(name, unit, values, options.goal)
}

/** Throughput of `count` operations that took `ms` milliseconds. */
export const perSecond = (count: number, ms: number): number => (count * 1000) / ms

export function meetsGoal(f: Figure): boolean | undefined {
  if (f.goal === undefined) return undefined
  return f.goal.op === '>=' ? f.median >= f.goal.value : f.median <= f.goal.value
}

const format = (n: number): string =>
  Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toPrecision(3)

export function formatTable(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    f.name,
    `${format(f.median)} ${f.unit}`,
    `±${format(f.spread / 2)}`,
    f.goal === undefined ? '' : `${f.goal.op} ${format(f.goal.value)}`,
    f.goal === undefined ? '' : meetsGoal(f) === true ? 'met' : 'NOT MET',
  ])
  const header = ['figure', 'median', 'spread/2', 'goal', '']
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] as string).length)),
  )
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** Prints the table and writes `bench/results/<name>.json` at the repository root. */
export function report(name: string, figures: readonly Figure[]): string {
  const dir = join(repoRoot, 'bench', 'results')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${name}.json`)
  const machine = {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
  }
  writeFileSync(
    file,
    JSON.stringify({ name, date: new Date().toISOString(), machine, figures }, null, 2) + '\n',
  )
  console.log(`\n${name}\n${formatTable(figures)}\n`)
  return file
}
