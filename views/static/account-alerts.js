// "Notify me on this device": registers the service worker, asks for permission, subscribes with the server's
// VAPID key and posts the subscription to /account/alerts/push.
(function () {
  var button = document.getElementById('notify-me');
  var status = document.getElementById('push-status');
  if (!button) return;
  var say = function (text) { status.textContent = text; };
  var keyBytes = function (b64url) {
    var b64 = b64url.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((b64url.length + 3) % 4);
    var raw = atob(b64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  };
  var activated = function (registration) {
    if (registration.active) return Promise.resolve(registration);
    var worker = registration.installing || registration.waiting;
    return new Promise(function (resolve, reject) {
      worker.addEventListener('statechange', function () {
        if (worker.state === 'activated') resolve(registration);
        if (worker.state === 'redundant') reject(new Error('the service worker did not install'));
      });
    });
  };
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) {
    button.disabled = true;
    say('This browser cannot show notifications from Accouch.');
    return;
  }
  button.addEventListener('click', function () {
    button.disabled = true;
    say('Asking this browser…');
    Notification.requestPermission().then(function (permission) {
      if (permission !== 'granted') throw new Error('Notifications are blocked for this site: allow them in the browser\'s settings.');
      return navigator.serviceWorker.register(button.dataset.worker);
    }).then(function (registration) {
      // The worker's scope is /static/, not this page: wait for it to activate rather than for serviceWorker.ready.
      return activated(registration);
    }).then(function (registration) {
      return registration.pushManager.getSubscription().then(function (existing) {
        return existing || registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(button.dataset.key) });
      });
    }).then(function (subscription) {
      return fetch(button.dataset.post, {
        method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(subscription.toJSON()),
      });
    }).then(function (res) {
      if (!res.ok) throw new Error('The server did not take this device (' + res.status + ').');
      say('This device will be notified.');
      setTimeout(function () { location.reload(); }, 800);
    }).catch(function (error) {
      button.disabled = false;
      say('Could not turn on notifications: ' + (error && error.message ? error.message : error));
    });
  });
})();
