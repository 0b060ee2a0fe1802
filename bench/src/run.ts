/**
 * `pnpm bench` ends here (turbo runs every package's bench first): the end-to-end figures against a
 * real node on loopback, then one table of every package's figures beside the goals of the issues,
 * written to `bench/results/latest.json`.
 *
 *   node --conditions=source bench/src/run.ts [--only ceiling,schedule,now,compute,memory,restart]
 *        [--runs N] [--run-ms MS] [--restart-slots 1000,10000,100000]
 */
import { rmSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { report } from '@aonode/benchkit'
import {
  ceilingSection,
  computeSection,
  memorySection,
  nowSection,
  restartSection,
  scheduleSection,
  startBenchNode,
  startCeiling,
  tempDataDir,
  type Session,
} from './e2e.ts'
import { formatSummary, machineInfo, missingGoals, readResults, writeLatest } from './summary.ts'

const SECTIONS = ['ceiling', 'schedule', 'now', 'compute', 'memory', 'restart'] as const
type Section = (typeof SECTIONS)[number]

/** Package results older than this (before this `pnpm bench` started) are from an earlier run. */
const RUN_WINDOW_MS = 20 * 60_000

async function main(): Promise<void> {
  const started = performance.now()
  const startedAt = new Date()
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      runs: { type: 'string', default: '5' },
      'run-ms': { type: 'string', default: '1000' },
      'restart-slots': { type: 'string', default: '1000,10000,100000' },
    },
  })
  const only = (values.only?.split(',') ?? SECTIONS) as Section[]
  const unknown = only.filter((name) => !SECTIONS.includes(name))
  if (unknown.length > 0)
    throw new Error(`unknown section(s) ${unknown.join(', ')}; known: ${SECTIONS.join(', ')}`)
  const session: Session = {
    settings: {
      runs: Number(values.runs),
      runMs: Number(values['run-ms']),
      restartSlots: values['restart-slots'].split(',').map(Number),
    },
    figures: [],
    missing: [],
    log: (line) => process.stdout.write(`${line}\n`),
  }
  const machine = machineInfo()
  session.log(
    `aonode end-to-end bench: ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, ` +
      `load average ${machine.loadAverage}`,
  )
  const wants = (section: Section): boolean => only.includes(section)
  const http = wants('schedule') || wants('now') || wants('compute')

  /** Runs one section; a failure is reported as missing figures, and the other sections run. */
  const section = async (name: string, run: () => Promise<void>): Promise<void> => {
    session.log(name)
    const start = performance.now()
    try {
      await run()
    } catch (error) {
      session.missing.push({ package: 'e2e', name, why: (error as Error).message })
      session.log(`  ${name} failed: ${(error as Error).message}`)
    }
    session.log(`  (${name}: ${((performance.now() - start) / 1000).toFixed(1)} s)`)
  }
  if (wants('ceiling') || http) {
    const ceiling = await startCeiling(session)
    try {
      if (http) {
        const dataDir = tempDataDir()
        const node = await startBenchNode(dataDir)
        session.log(`node under test: ${Object.keys(node.info.devices).join(', ')}`)
        try {
          const sections = {
            schedule: () => scheduleSection(session, node, ceiling),
            now: () => nowSection(session, node, ceiling),
            compute: () => computeSection(session, node),
          }
          for (const [name, run] of Object.entries(sections))
            if (wants(name as Section)) await section(name, run)
        } finally {
          await node.stop()
          rmSync(dataDir, { recursive: true, force: true })
        }
      }
      if (wants('ceiling') || wants('schedule'))
        await section('ceiling', () => ceilingSection(session, ceiling))
    } finally {
      await ceiling.close()
    }
  }
  if (wants('memory')) await section('memory', () => memorySection(session))
  if (wants('restart')) await section('restart', () => restartSection(session))
  report('e2e', session.figures)

  const dir = fileURLToPath(new URL('../results/', import.meta.url))
  const { results, stale } = readResults(dir, new Date(startedAt.getTime() - RUN_WINDOW_MS))
  const missing = [...session.missing, ...missingGoals(results)]
  process.stdout.write(`\nall figures (medians of ${session.settings.runs} runs)\n`)
  process.stdout.write(`${formatSummary(results, missing)}\n`)
  if (stale.length > 0)
    process.stdout.write(`\nnot merged (older than this run): ${stale.join(', ')}\n`)
  const end = machineInfo()
  process.stdout.write(
    `\nmachine: ${end.cores} cores, ${end.cpu}, Node ${end.node}, ${end.memoryGiB} GiB, ` +
      `load average ${end.loadAverage} (a shared machine: figures are noisy)\n`,
  )
  writeLatest(`${dir}latest.json`, results, missing, stale, performance.now() - started)
}

await main()
