// twofactor: small enhancements of the verification pages. The pages work
// without it; it only counts down the wait before a new code, and fills in
// a code the browser received by SMS (WebOTP), where the browser can.
"use strict";
(function () {
  var wait = document.querySelector("[data-tf-seconds]");
  if (wait) {
    var left = parseInt(wait.getAttribute("data-tf-seconds"), 10) || 0;
    var count = wait.querySelector(".tf-count");
    var buttons = document.querySelectorAll("[data-tf-wait]");
    var set = function (disabled) {
      for (var i = 0; i < buttons.length; i++) buttons[i].disabled = disabled;
    };
    set(left > 0);
    var timer = setInterval(function () {
      left--;
      if (left > 0) {
        if (count) count.textContent = String(left);
        return;
      }
      clearInterval(timer);
      wait.hidden = true;
      set(false);
    }, 1000);
  }
  var input = document.getElementById("tf-code");
  if (input && "OTPCredential" in window && navigator.credentials) {
    var ac = new AbortController();
    input.form.addEventListener("submit", function () { ac.abort(); });
    navigator.credentials.get({ otp: { transport: ["sms"] }, signal: ac.signal }).then(function (otp) {
      if (otp && otp.code) {
        input.value = otp.code;
        input.form.submit();
      }
    }).catch(function () {});
  }
})();
