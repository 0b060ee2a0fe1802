#!/usr/bin/env node
// Entry point of `npm start` and `npm test` on a machine that has only Node and npm:
// installs pnpm, the dependencies and the pinned Node 24 runtime when missing, then runs the task on Node 24.
import { spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PNPM = 'pnpm@10.34.9'
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const node24 = join(root, 'node_modules', 'node', 'bin', 'node')
const lockfile = join(root, 'pnpm-lock.yaml')
const marker = join(root, 'node_modules', '.modules.yaml')

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: process.env })
  if (result.error) throw result.error
  if (result.status !== 0) process.exit(result.status ?? 1)
}

function pnpm(...args) {
  run('npx', ['-y', PNPM, ...args])
}

const installed =
  existsSync(node24) && existsSync(marker) && statSync(marker).mtimeMs >= statSync(lockfile).mtimeMs
if (!installed) pnpm('install', '--frozen-lockfile')
// The chapter's WASM counter (README quickstart, CLI examples) is compiled from AssemblyScript.
if (!existsSync(join(root, 'examples', 'counter-as', 'build', 'counter.wasm'))) {
  pnpm('--filter', '@aonode/example-counter-as', 'build')
}

const [task, ...rest] = process.argv.slice(2)
switch (task) {
  case 'start':
    run(node24, ['--conditions=source', 'apps/node/src/cli.ts', 'start', ...rest])
    break
  case 'test':
    pnpm('run', 'test:all', ...rest)
    break
  default:
    console.error(`usage: node scripts/setup.mjs start|test (got "${task ?? ''}")`)
    process.exit(2)
}
