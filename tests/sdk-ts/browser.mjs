// The headless Chromium the browser tests drive with playwright-core: the pinned
// `@sparticuz/chromium` (package-lock.json), unpacked into the test's own directory, with a
// profile of its own under `work`. Nothing may leave loopback: names resolve nowhere but
// 127.0.0.1 and `*.localhost` (a preview's own origin, which Chromium resolves to loopback
// itself), and every request the browser makes is recorded in `away` unless it goes there.

import { join } from 'node:path'

import browser from '@sparticuz/chromium'
import { chromium } from 'playwright-core'

// Generous: a guard against hanging on a loaded machine, not a timing assertion.
export const PATIENCE = 30_000

/** Whether `url` stays on this machine's loopback. */
export function loopback(url) {
  const { hostname } = new URL(url)
  return hostname === '127.0.0.1' || hostname.endsWith('.localhost')
}

/** The browser's context, with a first page, and the list of requests that left loopback. */
export async function launch(work, viewport = { width: 800, height: 480 }) {
  // It needs only the C library, so no distribution's browser package (whose archive drops old
  // versions) is involved.
  const executablePath = await browser.executablePath()
  const context = await chromium.launchPersistentContext(join(work, 'profile'), {
    executablePath,
    headless: true,
    viewport,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Whatever Chromium might still try to reach resolves nowhere but loopback.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE *.localhost',
    ],
  })
  context.setDefaultTimeout(PATIENCE)
  const away = []
  context.on('request', (request) => {
    if (!loopback(request.url())) away.push(request.url())
  })
  const page = context.pages()[0] ?? (await context.newPage())
  return { context, page, away }
}
