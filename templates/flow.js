// twofactor: small enhancements of the verification pages. The pages work
// without it; it only counts down the wait before a new code, solves a
// challenge, keeps an opted-in phone placeholder to the chosen country, and
// fills in a code the browser received by SMS (WebOTP), where the browser can.
"use strict";
(function () {
  var wait = document.querySelector("[data-tf-seconds]");
  if (wait) {
    var left = parseInt(wait.getAttribute("data-tf-seconds"), 10) || 0;
    var count = wait.querySelector(".tf-count");
    var unit = count && count.nextSibling; // the text " seconds."
    var one = wait.getAttribute("data-tf-one") || "second";
    var other = wait.getAttribute("data-tf-other") || "seconds";
    var buttons = document.querySelectorAll("[data-tf-wait]");
    // The buttons stay focusable while they wait (a disabled button would
    // drop the keyboard focus to the page): aria-disabled says they wait,
    // their description (the hint) says how long, and a press does nothing.
    var set = function (waiting) {
      for (var i = 0; i < buttons.length; i++) {
        if (waiting) buttons[i].setAttribute("aria-disabled", "true");
        else buttons[i].removeAttribute("aria-disabled");
      }
    };
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener("click", function (e) {
        if (this.getAttribute("aria-disabled") === "true") e.preventDefault();
      });
    }
    var show = function () {
      if (count) count.textContent = String(left);
      if (unit && unit.nodeType === 3) unit.nodeValue = " " + (left === 1 ? one : other) + ".";
    };
    set(left > 0);
    var timer = setInterval(function () {
      left--;
      if (left > 0) {
        show();
        return;
      }
      clearInterval(timer);
      // Say it is time, in the hint the buttons are described by.
      wait.textContent = wait.getAttribute("data-tf-ready") || "";
      set(false);
    }, 1000);
  }
  // Past a spent budget, a first-time number's send asks for a proof of
  // work: find n such that SHA-256(token ":" n) starts with the zero bits
  // asked for (about a second), and send the form again with it.
  var pow = document.querySelector("[data-tf-pow]");
  if (pow && window.crypto && crypto.subtle && window.TextEncoder) {
    var need = parseInt(pow.getAttribute("data-tf-pow"), 10) || 0;
    var token = pow.value;
    var answer = pow.form.querySelector("[name=challenge_answer]");
    var enc = new TextEncoder();
    var zeros = function (buf) {
      var b = new Uint8Array(buf), n = 0;
      for (var i = 0; i < b.length; i++) {
        if (b[i] === 0) { n += 8; continue; }
        for (var c = b[i]; !(c & 0x80); c <<= 1) n++;
        break;
      }
      return n;
    };
    var batch = 2000;
    var run = function (from) {
      var jobs = [];
      for (var i = from; i < from + batch; i++) jobs.push(crypto.subtle.digest("SHA-256", enc.encode(token + ":" + i)));
      Promise.all(jobs).then(function (hs) {
        for (var j = 0; j < hs.length; j++) {
          if (zeros(hs[j]) >= need) {
            answer.value = String(from + j);
            pow.form.submit();
            return;
          }
        }
        run(from + batch);
      });
    };
    run(0);
  }
  // A phone field that follows the country list (data-tf-follow) shows a
  // mobile number of the chosen country as its placeholder.
  var phone = document.querySelector("[data-tf-follow]");
  var country = document.getElementById("tf-country");
  if (phone && country) {
    country.addEventListener("change", function () {
      var opt = country.options[country.selectedIndex];
      var example = opt && opt.getAttribute("data-tf-example");
      if (example) phone.setAttribute("placeholder", example);
      else phone.removeAttribute("placeholder");
    });
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
