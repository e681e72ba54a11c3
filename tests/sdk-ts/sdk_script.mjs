// What the official-SDK test scripts beside this file share (as `tests/sdk/sdk_script.py` does
// for the Python ones): running a command that must succeed, and waiting for output with a
// deadline instead of sleeping, since a loaded machine starts shells and servers later than any
// fixed pause.

import assert from 'node:assert/strict'

/** Runs `command` in `sandbox`, which must exit 0, and gives its output. */
export async function shell(sandbox, command) {
  const reply = await sandbox.process.executeCommand(command)
  assert.equal(reply.exitCode, 0, `${command}: ${reply.result}`)
  return reply.result
}

/** Waits until `text()` holds `needle`, or fails after `seconds`. */
export async function until(text, needle, seconds = 60) {
  const deadline = Date.now() + seconds * 1000
  while (!text().includes(needle)) {
    assert.ok(Date.now() < deadline, `never saw ${JSON.stringify(needle)} in ${JSON.stringify(text())}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Polls `check` (which may be async) until it answers something true, which it returns; fails
 * after `seconds`, saying `what` it waited for. */
export async function eventually(what, check, seconds = 60) {
  const deadline = Date.now() + seconds * 1000
  for (;;) {
    const value = await check()
    if (value) return value
    assert.ok(Date.now() < deadline, `never: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Every node of an accessibility tree, `node` first. */
export function* flatten(node) {
  yield node
  for (const child of node.children ?? []) yield* flatten(child)
}
