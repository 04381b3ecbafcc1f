// Registers a passkey or security key: a button with data-register="<options URL>" and
// data-verify="<verify URL>" (and optionally data-name-input="<id of a text input>").
// The verify URL answers { redirect } on success.
(function () {
  'use strict';
  var lib = window.SimpleWebAuthnBrowser;
  var errorBox = document.getElementById('webauthn-error');
  var buttons = document.querySelectorAll('[data-register]');
  if (!buttons.length) return;
  if (!lib || !lib.browserSupportsWebAuthn()) {
    if (errorBox) {
      errorBox.textContent = 'This browser cannot create passkeys. Use another browser, or choose a password instead.';
      errorBox.hidden = false;
    }
    return;
  }

  function post(url, body) {
    return fetch(url, {
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

  buttons.forEach(function (button) {
    button.hidden = false;
    button.addEventListener('click', function () {
      var nameInput = document.getElementById(button.getAttribute('data-name-input') || '');
      var name = nameInput ? nameInput.value : '';
      if (errorBox) errorBox.hidden = true;
      button.disabled = true;
      post(button.getAttribute('data-register'), {})
        .then(function (options) { return lib.startRegistration({ optionsJSON: options }); })
        .then(function (response) { return post(button.getAttribute('data-verify'), { response: response, name: name }); })
        .then(function (result) { window.location.assign(result.redirect); })
        .catch(function (error) {
          button.disabled = false;
          if (!errorBox) return;
          errorBox.textContent = error && error.name === 'InvalidStateError'
            ? 'This authenticator is already registered.'
            : error && error.name === 'NotAllowedError'
              ? 'The request was cancelled or timed out. Try again.'
              : (error && error.message) || 'That did not work. Try again.';
          errorBox.hidden = false;
        });
    });
  });
})();
