// The official Daytona TypeScript SDK's language server against `ralph-town serve`:
// `sandbox.createLspServer('typescript', project)` then `start`, `didOpen`, `documentSymbols`,
// `completions`, `sandboxSymbols`, `didClose` and `stop` on a real file written to the sandbox,
// and the SDK's error for a sandbox that does not have the server. Run by `tests/serve_lsp.rs`
// with DAYTONA_API_URL and DAYTONA_API_KEY pointing at an in-process server, and
// LSP_SANDBOX_PATH: the `PATH` on which a sandbox finds `typescript-language-server`. Any
// failure exits non-zero with its stack.

import assert from 'node:assert/strict'

import { Daytona, DaytonaBadRequestError, DaytonaInternalServerError } from '@daytonaio/sdk'

function step(name) {
  console.log(`sdk-ts-lsp: ${name}`)
}

const SOURCE = `export interface Shape {
  area(): number
}

export function describe(shape: Shape): string {
  return "area " + shape.area()
}

const label: string = "shape"
label.toLo`

const daytona = new Daytona()
const sandbox = await daytona.create({ envVars: { PATH: process.env.LSP_SANDBOX_PATH } }, { timeout: 60 })
const project = `${await sandbox.getUserHomeDir()}/shapes`
const file = `${project}/shapes.ts`
await sandbox.fs.createFolder(project, '755')
await sandbox.fs.uploadFile(Buffer.from(SOURCE), file)
const lsp = await sandbox.createLspServer('typescript', project)

step('start and open')
await lsp.start()
await lsp.didOpen(file)

step('document symbols')
const symbols = await lsp.documentSymbols(file)
const names = symbols.map((symbol) => symbol.name)
assert.ok(names.includes('Shape') && names.includes('describe'), names.join(', '))
const describe = symbols.find((symbol) => symbol.name === 'describe')
assert.equal(describe.kind, 12) // a function
assert.equal(describe.location.uri, `file://${file}`)
assert.equal(describe.location.range.start.line, 4)

step('completions')
const list = await lsp.completions(file, { line: 9, character: 10 })
const labels = list.items.map((item) => item.label)
assert.ok(labels.includes('toLowerCase'), labels.slice(0, 40).join(', '))

step('sandbox symbols')
const found = await lsp.sandboxSymbols('describe')
assert.ok(found.some((symbol) => symbol.name === 'describe' && symbol.location.uri === `file://${file}`), JSON.stringify(found))

step('close and stop')
await lsp.didClose(file)
await lsp.stop()
await assert.rejects(lsp.documentSymbols(file), (error) => error instanceof DaytonaBadRequestError && /server not initialized/.test(error.message))
await daytona.delete(sandbox)

step('a sandbox without the server')
const bare = await daytona.create({}, { timeout: 60 })
const missing = await bare.createLspServer('javascript', '/tmp')
await assert.rejects(missing.start(), (error) => {
  assert.ok(error instanceof DaytonaInternalServerError, `${error.constructor.name}: ${error.message}`)
  assert.match(error.message, /`typescript-language-server` is not installed/)
  assert.match(error.message, /npm install --global typescript-language-server typescript/)
  return true
})
await daytona.delete(bare)
step('done')
