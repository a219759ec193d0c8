// posthog-js with session recording on and input masking off. api_host is
// this server, which plays PostHog's remote config, /flags/, /e/ and /s/.
'use strict';
(function () {
  let loaded;
  const ready = new Promise((r) => (loaded = r));
  posthog.init('phc_e2eDemoProjectToken', {
    api_host: location.origin,
    ui_host: location.origin,
    autocapture: true,
    capture_pageview: true,
    capture_pageleave: true,
    disable_surveys: true,
    // headless Chromium says so in its user agent; PostHog drops bot traffic
    opt_out_useragent_filter: true,
    session_recording: {maskAllInputs: false, maskTextSelector: null},
    loaded: () => loaded(),
  });
  window.e2eSdk = {
    ready,
    identify(email, name) {
      posthog.identify(email, {email, name});
    },
    validation() {},
    beforeLeave: async () => {},
  };
})();
