// The official Daytona TypeScript SDK's secret vault against `ralph-town serve`:
// `daytona.secret.*` (pages, update, delete, a duplicate name), `secrets` on create and
// `sandbox.updateSecrets`, and a request from the sandbox through the egress proxy to the test's
// loopback upstream. Run by `tests/serve_secrets.rs` with DAYTONA_API_URL, DAYTONA_API_KEY,
// SECRET_VALUE (never printed) and UPSTREAM_HTTP. Any failure exits non-zero with its stack.

import assert from 'node:assert/strict'

import { Daytona } from '@daytonaio/sdk'

function step(name) {
  console.log(`sdk-ts-secrets: ${name}`)
}

async function output(sandbox, command) {
  const reply = await sandbox.process.executeCommand(command)
  assert.equal(reply.exitCode, 0, `${command}: ${reply.result}`)
  return reply.result
}

const daytona = new Daytona()
const value = process.env.SECRET_VALUE
const upstream = process.env.UPSTREAM_HTTP

step('vault')
const token = await daytona.secret.create({ name: 'ts_token', value, hosts: ['127.0.0.1'] })
assert.ok(token.placeholder && !JSON.stringify(token).includes(value))
await assert.rejects(daytona.secret.create({ name: 'ts_token', value: 'x' }), /already exists/)
for (const name of ['ts-b', 'ts-a']) {
  await daytona.secret.create({ name, value: `${value}-${name}` })
}
const first = await daytona.secret.list({ limit: 2, name: 'ts', sort: 'name', order: 'asc' })
assert.deepEqual(first.items.map((secret) => secret.name), ['ts-a', 'ts-b'])
assert.equal(first.total, 3)
const second = await daytona.secret.list({ limit: 2, name: 'ts', sort: 'name', order: 'asc', cursor: first.nextCursor })
assert.deepEqual(second.items.map((secret) => secret.name), ['ts_token'])
assert.equal(second.nextCursor, null)
const updated = await daytona.secret.update(token.id, { description: 'from ts' })
assert.equal(updated.description, 'from ts')
assert.equal(updated.placeholder, token.placeholder)
const gone = first.items[0]
await daytona.secret.delete(gone.id)
await assert.rejects(daytona.secret.get(gone.id), /not found/)

step('mounted on create')
await assert.rejects(daytona.create({ secrets: { T: 'no-such-secret' } }, { timeout: 60 }), /not found/)
const sandbox = await daytona.create({ secrets: { TS_TOKEN: 'ts_token' } }, { timeout: 60 })
assert.equal(await output(sandbox, 'printf %s "$TS_TOKEN"'), token.placeholder)
const code = await output(
  sandbox,
  `curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TS_TOKEN" ${upstream}/ts-allowed`,
)
assert.equal(code, '200')

step('detached by update')
await sandbox.updateSecrets({})
assert.equal(await output(sandbox, 'printf %s "${TS_TOKEN-unset}:${HTTPS_PROXY-unset}"'), 'unset:unset')
await sandbox.delete()
step('done')
process.exit(0)
