// Passkeys and security keys on the sign-in page (no inline scripts: the CSP forbids them).
// Password, TOTP and recovery codes work without this file.
(function () {
  'use strict';
  var root = document.querySelector('[data-uid]');
  var lib = window.SimpleWebAuthnBrowser;
  if (!root || !lib || !lib.browserSupportsWebAuthn()) return;
  var base = root.getAttribute('data-base') + '/interaction/' + root.getAttribute('data-uid');
  var errorBox = document.getElementById('webauthn-error');

  function post(path, body) {
    return fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify(body),
    }).then(function (res) {
      return res.json().then(function (json) {
        if (!res.ok) throw new Error(json.error || json.message || 'That did not work. Try again.');
        return json;
      });
    });
  }

  function showError(error) {
    if (!errorBox || (error && error.name === 'AbortError')) return;
    errorBox.textContent = error && error.name === 'NotAllowedError'
      ? 'The passkey request was cancelled or timed out. Try again.'
      : (error && error.message) || 'That did not work. Try again.';
    errorBox.hidden = false;
  }

  function run(mode, user, autofill) {
    return post('/webauthn/options', { mode: mode, user: user || undefined })
      .then(function (options) { return lib.startAuthentication({ optionsJSON: options, useBrowserAutofill: Boolean(autofill) }); })
      .then(function (response) { return post('/webauthn', { mode: mode, response: response }); })
      .then(function (result) { window.location.assign(result.redirect); })
      .catch(showError);
  }

  document.querySelectorAll('[data-passkey]').forEach(function (button) {
    button.hidden = false;
    button.addEventListener('click', function () { run('passkey', button.getAttribute('data-passkey')); });
  });
  document.querySelectorAll('[data-second-factor]').forEach(function (button) {
    button.addEventListener('click', function () { run('second'); });
  });

  // Passkey autofill on the username field ("Other user"), where the browser supports it.
  if (document.querySelector('input[autocomplete~="webauthn"]') && lib.browserSupportsWebAuthnAutofill) {
    lib.browserSupportsWebAuthnAutofill().then(function (ok) { if (ok) run('passkey', '', true); });
  }
})();
