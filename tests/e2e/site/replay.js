// Replays the rrweb events that scrim masked (?events=URL, a JSON array) in
// rrweb's own Replayer and stops in the review step (just before the Meta
// event of /apply/done), where every typed and displayed value would show.
// Sets window.replayResult {events, offset, step, warnings, errors} and
// window.replayDone for record.js.
'use strict';
(function () {
  const warnings = [];
  const errors = [];
  const warn = console.warn;
  // the Replayer reports inconsistencies (a node id it cannot find, ...) here
  console.warn = function (...a) {
    warnings.push(a.map(String).join(' ').slice(0, 300));
    warn.apply(console, a);
  };
  window.addEventListener('error', (e) => errors.push('error: ' + e.message));
  window.addEventListener('unhandledrejection', (e) => errors.push('rejection: ' + e.reason));

  function finish(res) {
    window.replayResult = Object.assign({warnings, errors}, res);
    window.replayDone = true;
  }

  async function main() {
    const url = new URLSearchParams(location.search).get('events');
    const all = await (await fetch(url)).json();
    // @sentry/browser's own custom events (performanceSpan, ...) carry their
    // timestamp in seconds, which Sentry's player converts; every DOM event
    // is in ms. Left in, they would move the start of the replay to 1970.
    const events = Array.isArray(all) ? all.filter((e) => e.timestamp > 1e12) : all;
    if (!Array.isArray(events) || events.length < 2) {
      errors.push('no events to replay');
      return finish({events: 0, offset: 0, step: 'none'});
    }
    events.sort((a, b) => a.timestamp - b.timestamp);
    const start = events[0].timestamp;
    const meta = (re) => events.find((e) => e.type === 4 && re.test(e.data.href || ''));
    const done = meta(/\/apply\/done/);
    const review = meta(/\/apply\/review/);
    if (!review) errors.push('no Meta event of the review step in the replay');
    const stop = done ? done.timestamp - 1 : events[events.length - 1].timestamp;
    const replayer = new rrweb.Replayer(events, {
      root: document.getElementById('player'),
      showWarning: true,
      mouseTail: false,
      triggerFocus: false,
    });
    replayer.pause(stop - start);
    setTimeout(() => finish({events: events.length, offset: stop - start, step: review ? 'review' : 'end'}), 1500);
  }

  main().catch((e) => {
    errors.push('replay failed: ' + (e && e.stack ? e.stack : e));
    finish({events: 0, offset: 0, step: 'none'});
  });
})();
