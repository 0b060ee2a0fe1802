// ao-loader in a process of its own, as the bench's side-by-side reference: the device's process
// then shares neither its heap, its garbage collector nor its event loop with ao-loader. The
// memory64 build runs under the host's Node 20 with --experimental-wasm-memory64 (ao-loader's
// wasm64 glue does not run on Node 24). It boots the process, adds the table handler the bench's
// device process also has, and prints `ready <version>`; then for every line `<eval|add> <count>`
// on stdin it evaluates that many messages of that kind and prints messages/s, so the bench can
// interleave its runs with the device's.
// Usage: node [--experimental-wasm-memory64] this.cjs <aos image> <ao-loader format>
//   <unsafe|copy|given> <table handler Lua> <env JSON> (the env the device hands the same process,
//   so that both evaluate the same documents). `unsafe` is UNSAFE_MEMORY, ao-loader's fastest mode;
//   `copy` its default, which copies the whole memory in and out per message. `given` calls
//   wasm64@1.0's runtime instead, on the image as given (its Asyncify instrumentation not folded),
//   in this one thread the way ao-loader is called (message object in, JSON text in and out, no
//   worker, no store): the device's engine and glue without the fold.
const { readFileSync } = require('node:fs')
const { createInterface } = require('node:readline')

const [image, format, mode, handlerLua, envJson] = process.argv.slice(2)
const env = JSON.parse(envJson)
const PID = env.Process.Id
const OWNER = env.Process.Owner
const MODULE_ID = env.Module.Id
let nonce = 0
const message = (id, tags, data) => ({
  Id: id,
  Data: data,
  Owner: OWNER,
  Target: PID,
  From: OWNER,
  Tags: tags,
  Epoch: 0,
  Nonce: nonce++,
  Timestamp: 1700000000000 + nonce,
  'Block-Height': 1,
  Cron: false,
  'Read-Only': false,
  Module: MODULE_ID,
})
const ID = 'A'.repeat(43)
const kinds = {
  eval: () => message(ID, [{ name: 'Action', value: 'Eval' }], 'return 1 + 1'),
  add: (i) =>
    message(
      ID,
      [
        { name: 'Action', value: 'Add' },
        { name: 'Key', value: `k${i % 100}` },
      ],
      '',
    ),
}

/** The device's runtime on the image as given, with ao-loader's calling convention (Node 24: it loads the TypeScript). */
async function givenHandle(wasm) {
  const { prepareImage } = await import('./wasm-binary.ts')
  const { createRuntime } = await import('./runtime.ts')
  const maxPages = 65536
  const info = prepareImage(new Uint8Array(wasm), maxPages, { foldAsyncify: false })
  const runtime = createRuntime(new WebAssembly.Module(info.bytes), info, { maxPages })
  const envBytes = Buffer.from(envJson)
  const text = new TextDecoder()
  return async (_memory, msg) => {
    const answer = runtime.call(Buffer.from(JSON.stringify(msg)), envBytes, msg.Timestamp)
    return { Memory: null, ...JSON.parse(text.decode(answer)).response }
  }
}

;(async () => {
  const handle =
    mode === 'given'
      ? await givenHandle(readFileSync(image))
      : await require('@permaweb/ao-loader')(readFileSync(image), {
          format,
          UNSAFE_MEMORY: mode === 'unsafe',
        })
  let memory = (await handle(null, message(PID, [{ name: 'Type', value: 'Process' }], ''), env))
    .Memory
  const handler = message(ID, [{ name: 'Action', value: 'Eval' }], handlerLua)
  memory = (await handle(memory, handler, env)).Memory
  process.stdout.write(`ready ${process.version}\n`)
  for await (const line of createInterface({ input: process.stdin })) {
    const [kind, count] = line.split(' ')
    const next = kinds[kind]
    const started = performance.now()
    for (let i = 0; i < Number(count); i++) memory = (await handle(memory, next(i), env)).Memory
    process.stdout.write(`${(Number(count) * 1000) / (performance.now() - started)}\n`)
  }
})()
