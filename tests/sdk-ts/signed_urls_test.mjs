// The official Daytona TypeScript SDK's signed file URLs against `ralph-town serve`:
// `sandbox.downloadUrl`, `uploadUrl` and `rotateSigningKey`, used with `fetch` and no
// credentials. Run by `tests/serve_signed_urls.rs` with DAYTONA_API_URL and DAYTONA_API_KEY
// pointing at an in-process server. Any failure exits non-zero with its stack.

import assert from 'node:assert/strict'

import { Daytona } from '@daytonaio/sdk'

function step(name) {
  console.log(`sdk-ts-signed: ${name}`)
}

const daytona = new Daytona()
const sandbox = await daytona.create({}, { timeout: 60 })

step('downloadUrl')
await sandbox.fs.uploadFile(Buffer.from('ts signed\n'), 'share/ts.txt')
const url = await sandbox.downloadUrl('share/ts.txt')
assert.ok(!url.includes(process.env.DAYTONA_API_KEY), 'the API key is in the URL')
const downloaded = await fetch(url)
assert.equal(downloaded.status, 200)
assert.equal(await downloaded.text(), 'ts signed\n')

step('uploadUrl')
const form = new FormData()
form.append('file', new Blob(['from ts\n']), 'ts.bin')
const uploaded = await fetch(await sandbox.uploadUrl('incoming/ts.bin', 60), { method: 'POST', body: form })
assert.equal(uploaded.status, 200, await uploaded.clone().text())
assert.deepEqual(await uploaded.json(), { name: 'ts.bin', path: 'incoming/ts.bin', type: 'file' })
assert.equal((await sandbox.fs.downloadFile('incoming/ts.bin')).toString(), 'from ts\n')

step('rotateSigningKey')
await sandbox.rotateSigningKey()
assert.equal((await fetch(url)).status, 401)
assert.equal((await fetch(await sandbox.downloadUrl('share/ts.txt'))).status, 200)

await sandbox.delete()
step('done')
process.exit(0)
