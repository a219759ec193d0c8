// rrweb recording as a misconfigured client does it: maskAllInputs off, so
// every keystroke's value is sent. Batches go to scrim's rrweb route as
// {"session_id", "events"} once a second and before each page change.
'use strict';
(function () {
  const SID = 'e2e-rrweb-session';
  let sid = sessionStorage.getItem(SID);
  if (!sid) {
    sid = crypto.randomUUID();
    sessionStorage.setItem(SID, sid);
  }
  let buf = [];
  let chain = Promise.resolve();

  function send(events) {
    return fetch('/v1/rrweb', {
      method: 'POST',
      keepalive: true,
      headers: {'Content-Type': 'application/json', 'Authorization': 'Bearer e2e-rrweb-demo-key'},
      body: JSON.stringify({session_id: sid, events}),
    }).catch(() => {});
  }

  function flush() {
    if (buf.length === 0) return chain;
    const events = buf;
    buf = [];
    chain = chain.then(() => send(events));
    return chain;
  }

  rrweb.record({
    emit(e) {
      buf.push(e);
    },
    maskAllInputs: false,
    inlineStylesheet: true,
  });
  setInterval(flush, 1000);
  window.e2eSdk = {
    ready: Promise.resolve(),
    identify() {},
    validation(field, state, code) {
      const payload = {field, state};
      if (code) payload.code = code;
      rrweb.record.addCustomEvent('validation', payload);
    },
    beforeLeave: flush,
  };
})();
