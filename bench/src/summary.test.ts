import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { figure } from '@aonode/benchkit'
import {
  formatSummary,
  ISSUE_GOALS,
  missingGoals,
  readResults,
  type PackageResult,
} from './summary.ts'

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function resultsDir(files: Record<string, PackageResult>): string {
  const dir = mkdtempSync(join(tmpdir(), 'aonode-bench-test-'))
  dirs.push(dir)
  for (const [file, result] of Object.entries(files))
    writeFileSync(join(dir, file), JSON.stringify(result))
  return dir
}

describe('readResults', () => {
  it('merges the files of this run, lists older ones as stale and skips latest.json', () => {
    const since = new Date('2026-01-01T12:00:00Z')
    const dir = resultsDir({
      'core.json': { name: 'core', date: '2026-01-01T12:05:00Z', figures: [] },
      'device-lua.json': { name: 'device-lua', date: '2026-01-01T11:00:00Z', figures: [] },
      'latest.json': { name: 'latest', date: '2026-01-01T12:06:00Z', figures: [] },
    })
    const { results, stale } = readResults(dir, since)
    expect(results.map((r) => r.name)).toEqual(['core'])
    expect(stale).toEqual(['device-lua (2026-01-01T11:00:00Z)'])
  })

  it('answers nothing for a results directory that does not exist yet', () => {
    expect(readResults(join(tmpdir(), 'aonode-no-such-dir'), new Date())).toEqual({
      results: [],
      stale: [],
    })
  })
})

describe('missingGoals', () => {
  it('lists every issue goal no figure carries, and drops the ones measured', () => {
    const lua: PackageResult = {
      name: 'device-lua',
      date: new Date().toISOString(),
      figures: [
        figure('Lua counter', 'msg/s', [25_000, 31_000], { op: '>=', value: 30_000, issue: 6 }),
      ],
    }
    const missing = missingGoals([lua])
    expect(missing).toHaveLength(ISSUE_GOALS.length - 1)
    expect(missing.map((m) => m.name)).not.toContain('pure-Lua counter messages/s')
    expect(missing.map((m) => m.name)).toContain('hyper-aos messages/s')
  })

  it('does not count a figure with the same value but a different issue', () => {
    const other: PackageResult = {
      name: 'x',
      date: new Date().toISOString(),
      figures: [
        figure('y', 'msg/s', [1]),
        figure('z', 'msg/s', [1], { op: '>=', value: 30_000, issue: 99 }),
      ],
    }
    expect(missingGoals([other])).toHaveLength(ISSUE_GOALS.length)
  })
})

describe('formatSummary', () => {
  it('shows each figure beside its goal, met or NOT MET, its fraction of the ceiling and the gaps', () => {
    const table = formatSummary(
      [
        {
          name: 'e2e',
          date: new Date().toISOString(),
          figures: [
            { ...figure('schedule', 'msg/s', [4_000, 6_000]), ofCeiling: 0.5 },
            figure('restart', 'ms', [100, 300], { op: '<=', value: 500, issue: 4 }),
            figure('now p99', 'ms', [3, 5], { op: '<=', value: 2, issue: 4 }),
          ],
        },
      ],
      [{ package: 'device-lua', name: 'hyper-aos', why: 'not measured in this run' }],
    )
    const lines = table.split('\n')
    expect(lines.find((l) => l.includes('schedule'))).toMatch(/5,000 msg\/s\s+±1,000\s+50 %/)
    expect(lines.find((l) => l.includes('restart'))).toMatch(/<= 500\s+met$/)
    expect(lines.find((l) => l.includes('now p99'))).toMatch(/<= 2\.00\s+NOT MET$/)
    expect(lines.find((l) => l.includes('hyper-aos'))).toMatch(/missing.*not measured in this run$/)
  })
})
