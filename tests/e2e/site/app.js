// The application form: three steps and a thank-you page, one HTML file
// each, so that every step is a page load (a new full snapshot and Meta
// event for every SDK). What the user typed is kept in sessionStorage and
// shown back: in the greeting on every page, in the review summary, and in
// the validation message, as many real forms do. The SDK page script
// (sdk-*.js) sets window.e2eSdk: {ready, identify, validation, beforeLeave}.
'use strict';

const KEY = 'application';
const sdk = () => window.e2eSdk || {};

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY)) || {};
  } catch (e) {
    return {};
  }
}

function save(values) {
  sessionStorage.setItem(KEY, JSON.stringify(Object.assign(load(), values)));
}

function greet(app) {
  const g = document.getElementById('greeting');
  const step = document.body.dataset.step;
  if (!g || !app.full_name) return;
  if (step === 'done') {
    g.textContent = 'Thank you, ' + app.full_name + '. We sent a confirmation to ' + app.email + '.';
  } else {
    g.textContent = 'Hello ' + app.full_name + ' (' + (app.email || '') + ')';
  }
}

function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.type === 'checkbox') continue;
    out[el.name] = el.value;
  }
  return out;
}

// Validation of the payment step: an expiry in the past is refused with a
// message that quotes the card number the user typed.
function validatePayment(form) {
  const exp = form.elements.card_expiry;
  const err = document.getElementById('card_expiry-error');
  const m = /^(\d\d)\/(\d\d)$/.exec(exp.value.trim());
  const now = new Date();
  const expired = !m || 2000 + Number(m[2]) < now.getFullYear() ||
    (2000 + Number(m[2]) === now.getFullYear() && Number(m[1]) < now.getMonth() + 1);
  if (expired) {
    const code = m ? 'expired' : 'format';
    exp.setAttribute('aria-invalid', 'true');
    err.dataset.errorCode = code;
    err.textContent = 'Card ' + form.elements.card_number.value + ' was declined: the expiry date ' +
      exp.value + ' is in the past.';
    err.hidden = false;
    if (sdk().validation) sdk().validation('card_expiry', 'invalid', code);
    return false;
  }
  exp.setAttribute('aria-invalid', 'false');
  err.hidden = true;
  err.textContent = '';
  delete err.dataset.errorCode;
  if (sdk().validation) sdk().validation('card_expiry', 'valid', null);
  return true;
}

async function onSubmit(ev) {
  ev.preventDefault();
  const form = ev.target;
  const step = document.body.dataset.step;
  if (step === 'payment' && !validatePayment(form)) return;
  const values = formValues(form);
  save(values);
  if (sdk().beforeLeave) await sdk().beforeLeave();
  location.href = document.body.dataset.next + location.search;
}

function review(app) {
  for (const k of ['full_name', 'email', 'ssn', 'card_number', 'iban', 'loan_amount', 'loan_term']) {
    const dd = document.getElementById('r-' + k);
    if (dd) dd.textContent = app[k] || '';
  }
}

async function main() {
  if (sdk().ready) await sdk().ready;
  const app = load();
  greet(app);
  // a signed-in user is identified to the SDK on every page, as apps do
  if (app.email && sdk().identify) sdk().identify(app.email, app.full_name);
  if (document.body.dataset.step === 'review') review(app);
  const form = document.getElementById('step-form');
  if (form) {
    form.addEventListener('submit', onSubmit);
    form.addEventListener('input', () => {
      if (document.body.dataset.step === 'personal') greet(formValues(form));
    });
  }
  window.e2eReady = true;
}

main();
