// Debian's chromium, headless, driven by playwright-core, opens
// browser_page.html against a Convoy node, for test_websocket.py.
//
//   node browser.js URL TOPIC CLIENT_ID SCREENSHOT_PNG
//
// Serves the page and MQTT.js's browser bundle on 127.0.0.1, waits until
// the page is subscribed, prints "READY", then waits until the page lists
// both its own message and TOPIC/external (published by the test from
// another client), saves a screenshot and prints one JSON line: the
// page's status and the messages it shows. Exits 1 on error or after 30 s.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const { chromium } = require('playwright-core');

const [url, topic, clientId, screenshot] = process.argv.slice(2);
const files = {
  '/': [path.join(__dirname, 'browser_page.html'), 'text/html'],
  '/mqtt.min.js': [path.join(path.dirname(require.resolve('mqtt/package.json')), 'dist', 'mqtt.min.js'), 'application/javascript'],
};
const server = http.createServer((req, res) => {
  const file = files[new URL(req.url, 'http://x').pathname];
  if (!file) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'Content-Type': file[1] });
  res.end(fs.readFileSync(file[0]));
});

async function main() {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const page_url = `http://127.0.0.1:${server.address().port}/?` +
    new URLSearchParams({ url, topic, client: clientId });
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    page.on('console', (m) => console.error('page: ' + m.text()));
    await page.goto(page_url);
    await page.waitForFunction(() => document.getElementById('status').textContent !== 'loading' &&
                                     document.getElementById('status').textContent !== 'connected',
                               null, { timeout: 15000 });
    const status = await page.textContent('#status');
    if (status !== 'subscribed') throw new Error('page status: ' + status);
    console.log('READY');
    await page.waitForFunction(() => document.querySelectorAll('#received li').length >= 2, null,
                               { timeout: 15000 });
    await page.screenshot({ path: screenshot });
    const received = await page.$$eval('#received li', (items) => items.map((i) => i.textContent));
    console.log(JSON.stringify({ status, received }));
  } finally {
    await browser.close();
    server.close();
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
