// Passkeys and security keys on our pages (no inline scripts: the CSP forbids them). Password, TOTP and
// recovery codes work without this file.
// Sign-in: [data-uid] names the interaction; [data-passkey="<user id or empty>"] and [data-second-factor]
// buttons run an assertion; a username field with autocomplete "webauthn" gets passkey autofill.
// Registration: [data-register="<options URL>"] with data-verify="<verify URL>" and optionally
// data-name-input="<id of a text input>". JSON endpoints answer { redirect } or { error }.
(function () {
  'use strict';
  var lib = window.SimpleWebAuthnBrowser;
  var errorBox = document.getElementById('webauthn-error');

  function post(url, body) {
    return fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify(body),
    }).then(function (res) {
      return res.json().then(function (json) {
        if (!res.ok) throw new Error(json.message || json.error || 'That did not work. Try again.');
        return json;
      });
    });
  }

  function showError(error) {
    if (!errorBox || (error && error.name === 'AbortError')) return;
    errorBox.textContent = error && error.name === 'InvalidStateError'
      ? 'This authenticator is already registered.'
      : error && error.name === 'NotAllowedError'
        ? 'The request was cancelled or timed out. Try again.'
        : (error && error.message) || 'That did not work. Try again.';
    errorBox.hidden = false;
  }

  if (!lib || !lib.browserSupportsWebAuthn()) {
    if (errorBox && document.querySelector('[data-register]')) {
      errorBox.textContent = 'This browser cannot create passkeys. Use another browser, or choose a password instead.';
      errorBox.hidden = false;
    }
    return;
  }

  // Sign-in.
  var root = document.querySelector('[data-uid]');
  if (root) {
    var base = root.getAttribute('data-base') + '/interaction/' + root.getAttribute('data-uid');
    var authenticate = function (mode, user, autofill) {
      return post(base + '/webauthn/options', { mode: mode, user: user || undefined })
        .then(function (options) { return lib.startAuthentication({ optionsJSON: options, useBrowserAutofill: Boolean(autofill) }); })
        .then(function (response) { return post(base + '/webauthn', { mode: mode, response: response }); })
        .then(function (result) { window.location.assign(result.redirect); })
        .catch(showError);
    };
    document.querySelectorAll('[data-passkey]').forEach(function (button) {
      button.hidden = false;
      button.addEventListener('click', function () { authenticate('passkey', button.getAttribute('data-passkey')); });
    });
    document.querySelectorAll('[data-second-factor]').forEach(function (button) {
      button.addEventListener('click', function () { authenticate('second'); });
    });
    if (document.querySelector('input[autocomplete~="webauthn"]') && lib.browserSupportsWebAuthnAutofill) {
      lib.browserSupportsWebAuthnAutofill().then(function (ok) { if (ok) authenticate('passkey', '', true); });
    }
  }

  // Registration.
  document.querySelectorAll('[data-register]').forEach(function (button) {
    button.hidden = false;
    button.addEventListener('click', function () {
      var nameInput = document.getElementById(button.getAttribute('data-name-input') || '');
      if (errorBox) errorBox.hidden = true;
      button.disabled = true;
      post(button.getAttribute('data-register'), {})
        .then(function (options) { return lib.startRegistration({ optionsJSON: options }); })
        .then(function (response) { return post(button.getAttribute('data-verify'), { response: response, name: nameInput ? nameInput.value : '' }); })
        .then(function (result) { window.location.assign(result.redirect); })
        .catch(function (error) { button.disabled = false; showError(error); });
    });
  });
})();
