// Accouch's service worker: shows each alert pushed to this browser; a tap opens its page (details and
// "This wasn't me").
self.addEventListener('push', function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { title: 'Accouch', body: event.data ? event.data.text() : '' }; }
  event.waitUntil(self.registration.showNotification(data.title || 'Accouch', {
    body: data.body || '', tag: data.tag, data: { url: data.url }, requireInteraction: data.kind === 'outside' || data.kind === 'locked',
  }));
});
self.addEventListener('notificationclick', function (event) {
  event.notification.close();
  var url = event.notification.data && event.notification.data.url;
  if (url) event.waitUntil(self.clients.openWindow(url));
});
