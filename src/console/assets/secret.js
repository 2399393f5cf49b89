/* global document, window */
// Hides a revealed secret after the number of seconds in its data-hide-after attribute, and counts
// down to the end of the grant shown in #grant-expiry. Loaded from a file because the console's
// Content-Security-Policy allows no inline script.
'use strict';

(function () {
  var secret = document.querySelector('[data-hide-after]');
  var timer = document.getElementById('secret-timer');
  if (secret && timer) {
    var remaining = Number(secret.getAttribute('data-hide-after'));
    var tick = window.setInterval(function () {
      remaining -= 1;
      if (remaining > 0) {
        timer.textContent = 'The secret is hidden in ' + remaining + ' seconds.';
        return;
      }
      window.clearInterval(tick);
      secret.value = '';
      secret.textContent = '';
      secret.setAttribute('aria-label', 'Secret hidden');
      secret.classList.add('hidden-secret');
      timer.textContent = 'The secret is hidden. Reveal it again if you still need it.';
    }, 1000);
  }

  var expiry = document.getElementById('grant-expiry');
  var countdown = document.getElementById('grant-countdown');
  if (expiry && countdown) {
    var endsAt = Date.parse(expiry.getAttribute('datetime'));
    var update = function () {
      var seconds = Math.max(0, Math.round((endsAt - Date.now()) / 1000));
      var minutes = Math.floor(seconds / 60);
      countdown.textContent =
        seconds === 0 ? 'Ended.' : 'Ends in ' + minutes + ' min ' + (seconds % 60) + ' s.';
    };
    update();
    window.setInterval(update, 1000);
  }
})();
