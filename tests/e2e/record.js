#!/usr/bin/env node
// The browser half of scrim's end-to-end proof, driven by playwright-core
// in Debian's Chromium (headless, no browser download).
//
//   node record.js record BASE SDK...   walk the application form once per
//       SDK while server.py records what the SDK posts (fixtures/<sdk>/)
//   node record.js replay BASE OUT.png SDK...   replay the masked rrweb
//       events server.py serves under /replay/<sdk>.json in rrweb's
//       Replayer; fail on any page error or console error; screenshot the
//       replayed review step of the first SDK into OUT.png
//
// BASE is server.py's origin (http://127.0.0.1:PORT). Exit 0 on success,
// 1 with the reason on stderr otherwise.
'use strict';

const {chromium} = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const VIEWPORT = {width: 1280, height: 900};
// where each SDK posts its recording (the flush we wait for)
const RECORDING_PATH = {rrweb: '/v1/rrweb', posthog: '/s/', sentry: '/envelope/'};
const FLUSH_TIMEOUT_MS = 20000;

// The fake values typed into the form (well-known test data, no real person).
const TYPED = {
  full_name: 'Jane Doe',
  email: 'jane.doe@example.com',
  ssn: '078-05-1120',
  card_number: '4111 1111 1111 1111',
  iban: 'GB82 WEST 1234 5698 7654 32',
};

function fail(msg) {
  process.stderr.write('record.js: ' + msg + '\n');
  process.exit(1);
}

async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // root in a container has no user namespace for Chromium's sandbox
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--no-first-run'],
  });
}

async function post(base, path) {
  const r = await fetch(base + path, {method: 'POST'});
  if (!r.ok) fail(path + ' answered ' + r.status);
  return r.json();
}

async function recordingPosts(base, sdk) {
  const r = await fetch(base + '/__e2e/requests');
  const list = await r.json();
  return list.filter((x) => x.target.includes(RECORDING_PATH[sdk])).length;
}

// Wait until the SDK has sent what it recorded so far: a new recording
// request that started after this point (each SDK batches on its own timer).
async function flushed(page, base, sdk) {
  await page.waitForTimeout(300);
  // The rrweb page's flush resolves once every batch it sent was answered;
  // its buffer may already be empty (its 1 s timer sent it), so waiting for
  // a new request would race that timer.
  if (sdk === 'rrweb') return page.evaluate(() => window.e2eSdk.beforeLeave());
  const before = await recordingPosts(base, sdk);
  const end = Date.now() + FLUSH_TIMEOUT_MS;
  while (Date.now() < end) {
    if ((await recordingPosts(base, sdk)) > before) return;
    await page.waitForTimeout(200);
  }
  fail(sdk + ': no recording request within ' + FLUSH_TIMEOUT_MS + ' ms');
}

async function ready(page) {
  await page.waitForFunction(() => window.e2eReady === true, null, {timeout: 20000});
}

async function type(page, sel, text) {
  await page.locator(sel).click();
  await page.locator(sel).pressSequentially(text, {delay: 15});
}

async function walk(page, base, sdk) {
  await page.goto(base + '/apply/personal?sdk=' + sdk);
  await ready(page);
  await type(page, '#full_name', TYPED.full_name);
  await type(page, '#email', TYPED.email);
  await type(page, '#ssn', TYPED.ssn);
  await type(page, '#loan-amount', '15000');
  await page.selectOption('#loan_term', '24');
  await flushed(page, base, sdk);
  await Promise.all([page.waitForURL('**/apply/payment*'), page.click('#next')]);

  await ready(page);
  await type(page, '#card_number', TYPED.card_number);
  await type(page, '#card_expiry', '01/20');
  await page.click('#next'); // refused: the expiry is in the past
  await page.locator('#card_expiry-error').waitFor({state: 'visible'});
  const msg = await page.locator('#card_expiry-error').textContent();
  if (!msg.includes(TYPED.card_number)) fail('the validation message does not quote the card');
  await flushed(page, base, sdk);
  await page.locator('#card_expiry').fill('');
  await type(page, '#card_expiry', '12/30');
  await type(page, '#iban', TYPED.iban);
  await flushed(page, base, sdk);
  await Promise.all([page.waitForURL('**/apply/review*'), page.click('#next')]);

  await ready(page);
  await page.check('#confirm');
  await type(page, '#notes', 'Please call before 5pm. My SSN again: ' + TYPED.ssn);
  await flushed(page, base, sdk);
  await Promise.all([page.waitForURL('**/apply/done*'), page.click('#next')]);

  await ready(page);
  await page.click('h2'); // posthog-js uploads nothing before an interaction
  await flushed(page, base, sdk);
  await page.goto('about:blank'); // pagehide: the SDKs' last beacons
  await page.waitForTimeout(1500);
}

async function record(base, sdks) {
  const browser = await launch();
  try {
    for (const sdk of sdks) {
      const ctx = await browser.newContext({viewport: VIEWPORT});
      const page = await ctx.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push('console.error: ' + m.text());
      });
      await post(base, '/__e2e/record?sdk=' + sdk);
      const t0 = Date.now();
      await walk(page, base, sdk);
      await ctx.close();
      const n = (await post(base, '/__e2e/stop')).recorded;
      console.log(`record ${sdk}: ${n} requests in ${Date.now() - t0} ms`);
      if (errors.length) fail(sdk + ': the page reported errors:\n  ' + errors.join('\n  '));
    }
  } finally {
    await browser.close();
  }
}

async function replayOne(browser, base, sdk, png) {
  const ctx = await browser.newContext({viewport: {width: 1300, height: 1000}});
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push('console.error: ' + m.text());
  });
  await page.goto(base + '/site/replay.html?events=/replay/' + sdk + '.json');
  await page.waitForFunction(() => window.replayDone === true, null, {timeout: 30000});
  const res = await page.evaluate(() => window.replayResult);
  if (png) {
    await page.locator('.replayer-wrapper').screenshot({path: png});
  }
  await ctx.close();
  errors.push(...res.errors);
  console.log(`replay ${sdk}: ${res.events} events, paused at ${res.offset} ms ` +
              `(${res.step}), ${res.warnings.length} replayer warnings, ${errors.length} errors`);
  for (const w of res.warnings.slice(0, 10)) console.log('  warning: ' + w);
  return errors.map((e) => sdk + ': ' + e);
}

async function replay(base, png, sdks) {
  const browser = await launch();
  const errors = [];
  try {
    for (let i = 0; i < sdks.length; i++) {
      errors.push(...(await replayOne(browser, base, sdks[i], i === 0 ? png : null)));
    }
  } finally {
    await browser.close();
  }
  if (errors.length) fail('replay errors:\n  ' + errors.join('\n  '));
}

async function main() {
  const [mode, base, ...rest] = process.argv.slice(2);
  if (mode === 'record' && base && rest.length) return record(base, rest);
  if (mode === 'replay' && base && rest.length > 1) return replay(base, rest[0], rest.slice(1));
  fail('usage: record.js record BASE SDK... | record.js replay BASE OUT.png SDK...');
}

main().catch((e) => fail(e.stack || String(e)));
