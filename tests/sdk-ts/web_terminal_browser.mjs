// The web terminal's page in a real browser: Chromium, driven with playwright-core, opens the
// signed preview link of a sandbox's port 22222 and uses the terminal as a person would, with
// the keyboard and the window's size, reading only what xterm.js renders. Run by
// `tests/serve_web_terminal_browser.rs`, which gives it:
//   TERMINAL_URL  the signed link (a browser cannot send the preview token header)
//   WORK          an empty directory for the browser's profile and the screenshot, and where
//                 the browser (`@sparticuz/chromium`, pinned in package-lock.json) is unpacked
//   SLEEP         the argument of a `sleep` left running when the page closes
//   SEEN          a file that appears once the test has seen that `sleep` run
// The page stays at its link (the web terminal has no origin of its own). Nothing may leave
// loopback: every request the browser makes is checked. Any failure exits non-zero with its
// stack.

import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

import { PATIENCE, launch } from './browser.mjs'

const { TERMINAL_URL, WORK, SLEEP, SEEN } = process.env

function step(name) {
  console.log(`web-terminal-browser: ${name}`)
}

const { context, page, away } = await launch(WORK)
const errors = []
page.on('pageerror', (error) => errors.push(String(error)))
page.on('console', (message) => {
  if (message.type() === 'error') errors.push(`${message.text()} at ${message.location().url}`)
})
page.on('response', (response) => {
  if (response.status() >= 400) errors.push(`${response.status()} ${response.url()}`)
})

/** The rendered rows, as text (xterm's DOM renderer draws a space as a no-break space). */
async function rows() {
  return page.$$eval('.xterm-rows > div', (divs) =>
    divs.map((div) => div.textContent.replaceAll('\u00a0', ' ').trimEnd()),
  )
}

/** Waits until `found(rows)` gives a value, and returns it. */
async function until(what, found) {
  const deadline = Date.now() + PATIENCE
  for (;;) {
    const shown = await rows()
    const value = found(shown)
    if (value !== undefined && value !== false) return value
    assert.ok(Date.now() < deadline, `gave up waiting for ${what}; the terminal shows:\n${shown.join('\n')}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The row just after the one that echoes `line` typed at the prompt, once it is there. */
async function after(line) {
  return until(`the output of ${line}`, (shown) => {
    const at = shown.findLastIndex((row) => row.endsWith(`$ ${line}`))
    return at >= 0 && at + 1 < shown.length && shown[at + 1] !== '' ? shown[at + 1] : undefined
  })
}

/** Types `line` and Enter with the keyboard. */
async function type(line) {
  await page.keyboard.type(line)
  await page.keyboard.press('Enter')
}

step('open')
const response = await page.goto(TERMINAL_URL)
assert.equal(response.status(), 200)
// The page stays at its link: the web terminal has no origin of its own, and no cookie.
assert.ok(page.url().startsWith(TERMINAL_URL), page.url())
assert.deepEqual(await context.cookies(), [])
await page.waitForSelector('.xterm-rows > div')
// Bash drops what is typed before it reads at its prompt.
await until('the prompt', (shown) => shown.some((row) => row.endsWith('$')))

step('type')
await type('echo $((6*7))')
assert.equal(await after('echo $((6*7))'), '42')

step('resize')
let check = 0
/** The size `stty size` shows after the viewport became `width`x`height`. */
async function sizeAt(width, height) {
  const before = await page.evaluate(() => [term.rows, term.cols])
  await page.setViewportSize({ width, height })
  // The page fits the terminal on the window's resize, which sends the size before any input.
  await page.waitForFunction(([rows, cols]) => term.rows !== rows || term.cols !== cols, before)
  const fitted = await page.evaluate(() => [term.rows, term.cols])
  await until('the rows at the new size', (shown) => shown.length === fitted[0])
  check += 1
  const line = `stty size # ${check}`
  await type(line)
  const shown = await after(line)
  const size = shown.match(/^(\d+) (\d+)$/)
  assert.ok(size, `stty size showed ${JSON.stringify(shown)}`)
  const stty = [Number(size[1]), Number(size[2])]
  assert.deepEqual(stty, fitted, 'the shell has the size the page fitted')
  return stty
}
const large = await sizeAt(1200, 900)
const small = await sizeAt(640, 360)
assert.ok(large[0] > small[0] && large[1] > small[1], `${large} then ${small}`)

step('characters')
await type("printf 'é€😀\\n'")
assert.equal(await after("printf 'é€😀\\n'"), 'é€😀')

step('screenshot')
await page.screenshot({ path: join(WORK, 'terminal.png') })

step('close')
await type(`sleep ${SLEEP}`)
const deadline = Date.now() + PATIENCE
while (!existsSync(SEEN)) {
  assert.ok(Date.now() < deadline, 'the test never saw the sleep run')
  await new Promise((resolve) => setTimeout(resolve, 50))
}
await page.close()
await context.close()

assert.deepEqual(errors, [], 'the page reported errors')
assert.deepEqual(away, [], 'the browser reached beyond loopback')
step('done')
