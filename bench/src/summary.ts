/**
 * Merges every package's `bench/results/<name>.json` into `latest.json` and prints one table with
 * each figure beside its goal, plus the goals from the issues that no bench measured (missing).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { meetsGoal, type Figure } from '@aonode/benchkit'

/** A figure as the bench writes it; HTTP figures also carry their fraction of the ceiling. */
export type BenchFigure = Figure & { readonly ofCeiling?: number }

export interface PackageResult {
  readonly name: string
  readonly date: string
  readonly figures: readonly BenchFigure[]
}

export interface Missing {
  readonly package: string
  readonly name: string
  readonly why: string
  readonly goal?: Figure['goal']
}

/** The goals the issues set; each must appear in the table, measured or marked missing. */
export const ISSUE_GOALS: readonly Omit<Missing, 'why'>[] = [
  {
    package: 'core',
    name: 'message@1.0 resolutions/s (3-step path)',
    goal: { op: '>=', value: 100_000, issue: 2 },
  },
  {
    package: 'device-cache',
    name: 'LMDB durable message writes/s (batched)',
    goal: { op: '>=', value: 50_000, issue: 3 },
  },
  {
    package: 'device-cache',
    name: 'LMDB reads/s (warm)',
    goal: { op: '>=', value: 200_000, issue: 3 },
  },
  {
    package: 'device-cache',
    name: 'disk overhead (× encoded size)',
    goal: { op: '<=', value: 2, issue: 3 },
  },
  {
    package: 'e2e',
    name: 'schedule over HTTP, 64 clients',
    goal: { op: '>=', value: 8_000, issue: 4 },
  },
  {
    package: 'device-process',
    name: 'compute overhead per message (test-exec)',
    goal: { op: '<=', value: 20, issue: 4 },
  },
  { package: 'e2e', name: 'now latency p99 under load', goal: { op: '<=', value: 2, issue: 4 } },
  {
    package: 'e2e',
    name: 'restart-to-now, 100,000 slots',
    goal: { op: '<=', value: 500, issue: 4 },
  },
  {
    package: 'device-wasm64',
    name: 'AssemblyScript counter messages/s',
    goal: { op: '>=', value: 100_000, issue: 5 },
  },
  {
    package: 'device-wasm64',
    name: 'aos messages/s vs ao-loader fastest mode',
    goal: { op: '>=', value: 1, issue: 5 },
  },
  {
    package: 'device-lua',
    name: 'pure-Lua counter messages/s',
    goal: { op: '>=', value: 30_000, issue: 6 },
  },
  {
    package: 'device-lua',
    name: 'hyper-aos messages/s',
    goal: { op: '>=', value: 8_000, issue: 6 },
  },
]

const sameGoal = (a: Figure['goal'], b: Figure['goal']): boolean =>
  a !== undefined &&
  b !== undefined &&
  a.op === b.op &&
  a.value === b.value &&
  (a.issue === undefined || b.issue === undefined || a.issue === b.issue)

/**
 * Reads the result files written since `since` (older ones are from an earlier run and are listed
 * as stale, not merged).
 */
export function readResults(
  dir: string,
  since: Date,
): { results: PackageResult[]; stale: string[] } {
  const results: PackageResult[] = []
  const stale: string[] = []
  let files: string[]
  try {
    files = readdirSync(dir).filter((file) => file.endsWith('.json') && file !== 'latest.json')
  } catch {
    return { results, stale }
  }
  for (const file of files.sort()) {
    const result = JSON.parse(readFileSync(join(dir, file), 'utf8')) as PackageResult
    if (new Date(result.date) < since) stale.push(`${result.name} (${result.date})`)
    else results.push(result)
  }
  return { results, stale }
}

/** The issue goals no merged figure carries, as missing rows. */
export function missingGoals(results: readonly PackageResult[]): Missing[] {
  return ISSUE_GOALS.filter(
    (expected) =>
      !results.some((result) => result.figures.some((f) => sameGoal(f.goal, expected.goal))),
  ).map((expected) => ({ ...expected, why: 'not measured in this run' }))
}

const format = (n: number): string =>
  Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toPrecision(3)

export function formatSummary(
  results: readonly PackageResult[],
  missing: readonly Missing[],
): string {
  const rows: string[][] = []
  for (const result of results) {
    for (const f of result.figures) {
      rows.push([
        result.name,
        f.name,
        `${format(f.median)} ${f.unit}`,
        `±${format(f.spread / 2)}`,
        f.ofCeiling === undefined ? '' : `${(f.ofCeiling * 100).toFixed(0)} %`,
        f.goal === undefined ? '' : `${f.goal.op} ${format(f.goal.value)}`,
        f.goal === undefined ? '' : meetsGoal(f) === true ? 'met' : 'NOT MET',
      ])
    }
  }
  for (const m of missing) {
    rows.push([
      m.package,
      m.name,
      'missing',
      '',
      '',
      m.goal === undefined ? '' : `${m.goal.op} ${format(m.goal.value)}`,
      m.why,
    ])
  }
  const header = ['package', 'figure', 'median', 'spread/2', 'of ceiling', 'goal', '']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

export interface Machine {
  readonly cores: number
  readonly cpu: string
  readonly node: string
  readonly memoryGiB: number
  /** 1-minute load average when the run ended: other work on the machine skews every figure. */
  readonly loadAverage: number
}

export function machineInfo(): Machine {
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage: Number((loadavg()[0] ?? 0).toFixed(2)),
  }
}

export function writeLatest(
  file: string,
  results: readonly PackageResult[],
  missing: readonly Missing[],
  stale: readonly string[],
  durationMs: number,
): void {
  const latest = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    durationSeconds: Math.round(durationMs / 1000),
    packages: results,
    missing,
    stale,
  }
  writeFileSync(file, `${JSON.stringify(latest, null, 2)}\n`)
}
