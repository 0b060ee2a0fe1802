// An AO process in AssemblyScript for wasm64@1.0. The device calls `handle(msg, env)` with the ao
// message and env as JSON (ao-legacy-cu §2.3) and expects `{ok, response}` JSON back. State lives in
// module globals and linear memory; the device snapshots both.

let count: i64 = 0

/** The value of the first tag called `name` in the message JSON's `Tags`, or "" when absent. */
function tag(msg: string, name: string): string {
  const key = '{"name":"' + name + '","value":"'
  const at = msg.indexOf(key)
  if (at < 0) return ''
  const start = at + key.length
  const end = msg.indexOf('"', start)
  return end < 0 ? '' : msg.substring(start, end)
}

export function handle(msg: string, env: string): string {
  if (tag(msg, 'Action') == 'Increment') count += 1
  return (
    '{"ok":true,"response":{"Output":{"Count":' +
    count.toString() +
    '},"Messages":[],"Spawns":[],"Assignments":[]}}'
  )
}
