// Calls of the official TypeScript SDK on a sandbox's toolbox that once failed against
// `ralph-town serve`, one case per run (SWEEP_CASE), run by `tests/serve_sdk_sweeptool.rs`: each
// case asserts what the SDK returns or throws, and prints `sweeptool-ts: done` at the end.

import assert from 'node:assert/strict'

import { Daytona } from '@daytonaio/sdk'

function step(name) {
  console.log(`sweeptool-ts: ${name}`)
}

const PNG = 'iVBORw0KGgo'

const cases = {
  // The SDK's own example asks for `webp`, which the daemon answers with a full-size PNG.
  async 'webp-screenshot'(daytona) {
    const sandbox = await daytona.create()
    const screenshot = sandbox.computerUse.screenshot
    await sandbox.computerUse.start()
    step('the example of takeCompressedRegion')
    const region = { x: 0, y: 0, width: 800, height: 600 }
    const shot = await screenshot.takeCompressedRegion(region, { format: 'webp', quality: 80, showCursor: true })
    assert.ok(shot.screenshot.startsWith(PNG), shot.screenshot.slice(0, 16))
    assert.equal(shot.sizeBytes, Buffer.from(shot.screenshot, 'base64').length)
    const size = Buffer.from(shot.screenshot, 'base64')
    assert.deepEqual([size.readUInt32BE(16), size.readUInt32BE(20)], [800, 600])
    step('takeCompressed in webp, scaled: a PNG of the whole display')
    const whole = await screenshot.takeCompressed({ format: 'webp', scale: 0.5 })
    const png = Buffer.from(whole.screenshot, 'base64')
    const display = (await sandbox.computerUse.display.getInfo()).displays[0]
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [display.width, display.height])
    step('jpeg still scales')
    const small = await screenshot.takeCompressed({ format: 'jpeg', quality: 50, scale: 0.5 })
    assert.ok(small.screenshot.startsWith('/9j/'), small.screenshot.slice(0, 8))
    await sandbox.computerUse.stop()
    await sandbox.delete()
  },
}

await cases[process.env.SWEEP_CASE](new Daytona())
console.log('sweeptool-ts: done')
