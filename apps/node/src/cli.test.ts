import { describe, expect, it } from 'vitest'
import { main } from './cli.ts'

describe('aonode CLI', () => {
  it('refuses unknown commands and missing arguments with a message naming them', async () => {
    await expect(main(['bogus'])).rejects.toThrow('unknown command "bogus"')
    await expect(main(['send'])).rejects.toThrow('send needs a process ID')
    await expect(main(['now'])).rejects.toThrow('now needs a process ID')
    await expect(main(['schedule'])).rejects.toThrow('schedule needs a process ID')
    await expect(main(['spawn'])).rejects.toThrow('exactly one of --lua FILE or --wasm FILE')
    await expect(main(['spawn', '--lua', 'a.lua', '--wasm', 'b.wasm'])).rejects.toThrow(
      'exactly one of',
    )
    await expect(main(['send', 'X'.repeat(43), 'Action'])).rejects.toThrow(
      'expected Key=Value, got "Action"',
    )
    await expect(main(['start', '--port', 'ten'])).rejects.toThrow('--port must be a number')
    await expect(main(['start', '--nope'])).rejects.toThrow(/Unknown option '--nope'/)
  })

  it('names the node it cannot reach', async () => {
    await expect(main(['now', 'X'.repeat(43), '--url', 'http://127.0.0.1:1'])).rejects.toThrow(
      /cannot reach http:\/\/127\.0\.0\.1:1/,
    )
  })
})
