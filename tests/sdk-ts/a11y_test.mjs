// The official Daytona TypeScript SDK's accessibility calls against `ralph-town serve`: starts
// computer use, runs the GTK 3 window of `tests/sdk/a11y_window.py` in the sandbox, reads the
// tree, finds the button, clicks it through AT-SPI and checks the SDK's error for an unknown node.
// Run by `tests/serve_a11y.rs` with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an
// in-process server. Any failure exits non-zero with its stack.

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'

import { Daytona, DaytonaNotFoundError } from '@daytonaio/sdk'

import { eventually, flatten } from './sdk_script.mjs'

function step(name) {
  console.log(`sdk-ts-a11y: ${name}`)
}


const daytona = new Daytona()
const sandbox = await daytona.create({}, { timeout: 60 })
const a11y = sandbox.computerUse.accessibility

step('a GTK window')
await sandbox.computerUse.start()
await sandbox.fs.uploadFile(readFileSync(new URL('../sdk/a11y_window.py', import.meta.url)), 'probe.py')
await sandbox.process.createSession('desktop')
await sandbox.process.executeSessionCommand('desktop', { command: 'python3 probe.py', runAsync: true })

step('the tree')
const tree = await eventually('the window in the tree', async () => {
  const answer = await a11y.getTree({ scope: 'all' })
  return [...flatten(answer.root)].some((node) => node.name === 'A11y Probe') && answer
})
assert.equal(tree.root.role, 'desktop frame')
const names = [...flatten(tree.root)].map((node) => `${node.role}: ${node.name}`)
assert.ok(names.includes('push button: Press me'), names.join(', '))
assert.ok(names.includes('text: Your name'), names.join(', '))

step('find and invoke')
const found = await a11y.findNodes({ scope: 'all', role: 'push button', name: 'Press me', nameMatch: 'exact' })
assert.equal(found.matches.length, 1)
await a11y.invokeNode(found.matches[0].id)
await eventually('the click in ~/clicked.txt', async () => {
  const reply = await sandbox.process.executeCommand('cat ~/clicked.txt 2>/dev/null || true')
  return reply.result === 'clicked'
})
await assert.rejects(a11y.focusNode(':1.9999:/org/a11y/atspi/accessible/1'), DaytonaNotFoundError)

await sandbox.delete()
console.log('sdk-ts-a11y: done')
