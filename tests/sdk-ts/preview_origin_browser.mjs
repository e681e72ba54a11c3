// Two sandboxes' previews in a real browser: Chromium, driven with playwright-core, opens the
// signed preview links of two sandboxes' web servers, each in a page of its own, and shows
// that each landed on an origin of its own (`{port}-{id}.localhost`), so that neither page can
// read what the other keeps in `localStorage`, nor fetch the other's pages with the browser's
// cookies. Run by `tests/serve_preview_origin_browser.rs`, which gives it:
//   LINK_A, LINK_B  the two signed links (a browser cannot send the preview token header)
//   WORK            an empty directory for the browser's profile, where the browser unpacks
// Each sandbox's server answers `/secret` with a text of its own and counts those requests,
// which `/hits` tells. Nothing may leave loopback. Any failure exits non-zero with its stack.

import assert from 'node:assert/strict'

import { launch } from './browser.mjs'

const { LINK_A, LINK_B, WORK } = process.env

function step(name) {
  console.log(`preview-origin-browser: ${name}`)
}

const { context, page: first, away } = await launch(WORK)
const second = await context.newPage()

step('open')
const origins = []
for (const [page, link] of [
  [first, LINK_A],
  [second, LINK_B],
]) {
  const response = await page.goto(`${link}/`)
  assert.equal(response.status(), 200)
  const landed = new URL(page.url())
  assert.match(landed.hostname, /^\d+-[0-9a-f-]+\.localhost$/, page.url())
  assert.equal(`${landed.pathname}${landed.search}`, '/', 'the code is gone from the URL')
  origins.push(landed.origin)
}
const [, otherOrigin] = origins
assert.notEqual(origins[0], origins[1])

step('storage')
await first.evaluate(() => localStorage.setItem('owner', 'a'))
assert.equal(await second.evaluate(() => localStorage.getItem('owner')), null)
await second.evaluate(() => localStorage.setItem('owner', 'b'))
assert.equal(await first.evaluate(() => localStorage.getItem('owner')), 'a')
assert.equal(await second.evaluate(() => localStorage.length), 1)

step('fetch')
// The first page's script reaches for the second preview with the browser's cookies: CORS
// hides the answer, and the cookie (SameSite=Lax, another site) is not sent, so `serve` refuses
// it before the second sandbox's server sees it.
const tried = await first.evaluate(async (other) => {
  let read
  try {
    read = await (await fetch(`${other}/secret`, { credentials: 'include' })).text()
  } catch {
    read = 'refused'
  }
  const blind = await fetch(`${other}/secret`, { credentials: 'include', mode: 'no-cors' })
  return { read, blind: `${blind.type} ${blind.status}` }
}, otherOrigin)
assert.deepEqual(tried, { read: 'refused', blind: 'opaque 0' })
// Its own page reads it, with its cookie: the one request the server counts.
assert.equal(await second.evaluate(() => fetch('/secret').then((r) => r.text())), 'secret of b')
assert.equal(await second.evaluate(() => fetch('/hits').then((r) => r.text())), '1')

await context.close()
assert.deepEqual(away, [], 'the browser reached beyond loopback')
step('done')
