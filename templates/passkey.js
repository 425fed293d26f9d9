// twofactor: passkeys (WebAuthn). The flow's passkey page and an app's
// settings page load this script; it asks the browser for a passkey
// (navigator.credentials.get or .create) and passes the answer to the
// flow's JSON endpoints, turning binary fields to and from base64url.
//
//   - A button with id "tf-passkey" signs in: data-tf-prefix is the flow's
//     prefix, data-tf-next where to go afterwards.
//   - A button with the attribute data-tf-passkey-register adds a passkey:
//     data-tf-prefix as above, data-tf-name the id of an input with the
//     passkey's name (optional), data-tf-done where to go afterwards
//     (default: this page again), data-tf-status the id of an element for
//     messages, data-tf-nojs the id of an element to hide (a "needs
//     JavaScript" note), data-tf-cancelled what to say when the browser
//     made no passkey.
//   - A form with the attribute data-tf-passkey-confirm confirms an action
//     (StartConfirmation answered Passkey): data-tf-prefix as above,
//     data-tf-id the confirmation's id, data-tf-status as above. On submit
//     the script asks for the passkey, puts its answer (JSON) in the form's
//     "code" field and sends the form on to the app, which calls Confirm.
//
// Without JavaScript or WebAuthn the buttons stay hidden, and the pages
// offer the other ways to verify.
"use strict";
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) return;
  var dec = function (s) {
    s = String(s).replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  };
  var enc = function (buf) {
    var b = new Uint8Array(buf), s = "";
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  var post = function (url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (j) {
        if (!res.ok) {
          var e = new Error((j.error && j.error.message) || res.statusText);
          e.code = j.error && j.error.code;
          throw e;
        }
        return j;
      });
    });
  };
  var descriptors = function (list) {
    var out = [];
    for (var i = 0; list && i < list.length; i++) {
      var d = { type: list[i].type, id: dec(list[i].id) };
      if (list[i].transports) d.transports = list[i].transports;
      out.push(d);
    }
    return out;
  };
  var common = function (c, response) {
    var o = { id: c.id, rawId: enc(c.rawId), type: c.type, response: response,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {} };
    if (c.authenticatorAttachment) o.authenticatorAttachment = c.authenticatorAttachment;
    return o;
  };
  // A message for the visitor: the server's (already in their language),
  // or the page's own when they cancelled or the browser refused.
  var say = function (el, e, cancelled) {
    if (!el) return;
    el.textContent = e && e.code ? e.message : (cancelled || (e && e.message) || "");
    el.hidden = false;
  };
  var stepUp = function (prefix, e) {
    if (e && (e.code === "step_up_required" || e.code === "verification_required")) {
      location.assign(prefix + "?stepup=1&next=" + encodeURIComponent(location.pathname));
      return true;
    }
    return false;
  };

  var signIn = document.getElementById("tf-passkey");
  if (signIn) {
    var nojs = document.getElementById("tf-passkey-nojs");
    if (nojs) nojs.hidden = true;
    signIn.hidden = false;
    var errEl = document.getElementById("tf-passkey-error");
    var label = signIn.textContent;
    signIn.addEventListener("click", function () {
      var prefix = signIn.getAttribute("data-tf-prefix");
      signIn.setAttribute("aria-disabled", "true");
      signIn.textContent = signIn.getAttribute("data-tf-working") || label;
      if (errEl) errEl.hidden = true;
      post(prefix + "passkey/begin", { next: signIn.getAttribute("data-tf-next") || "" }).then(function (o) {
        var pk = o.publicKey;
        pk.challenge = dec(pk.challenge);
        pk.allowCredentials = descriptors(pk.allowCredentials);
        return navigator.credentials.get({ publicKey: pk });
      }).then(function (c) {
        return post(prefix + "passkey/finish", assertion(c));
      }).then(function (j) {
        location.assign(j.redirect || "/");
      }).catch(function (e) {
        signIn.removeAttribute("aria-disabled");
        signIn.textContent = label;
        say(errEl, e, signIn.getAttribute("data-tf-cancelled"));
      });
    });
  }

  var assertion = function (c) {
    var r = { clientDataJSON: enc(c.response.clientDataJSON), authenticatorData: enc(c.response.authenticatorData),
      signature: enc(c.response.signature) };
    if (c.response.userHandle) r.userHandle = enc(c.response.userHandle);
    return common(c, r);
  };

  var confirms = document.querySelectorAll("form[data-tf-passkey-confirm]");
  for (var f = 0; f < confirms.length; f++) {
    (function (form) {
      var buttons = form.querySelectorAll("button[hidden]");
      for (var i = 0; i < buttons.length; i++) buttons[i].hidden = false;
      var nojs = document.getElementById(form.getAttribute("data-tf-nojs") || "");
      if (nojs) nojs.hidden = true;
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var prefix = form.getAttribute("data-tf-prefix") || "/2fa/";
        var status = document.getElementById(form.getAttribute("data-tf-status") || "");
        post(prefix + "passkey/confirm/begin", { id: form.getAttribute("data-tf-id") || "" }).then(function (o) {
          var pk = o.publicKey;
          pk.challenge = dec(pk.challenge);
          pk.allowCredentials = descriptors(pk.allowCredentials);
          return navigator.credentials.get({ publicKey: pk });
        }).then(function (c) {
          form.elements.code.value = JSON.stringify(assertion(c));
          form.submit();
        }).catch(function (e) {
          say(status, e, form.getAttribute("data-tf-cancelled"));
        });
      });
    })(confirms[f]);
  }

  var adds = document.querySelectorAll("[data-tf-passkey-register]");
  for (var i = 0; i < adds.length; i++) {
    (function (btn) {
      btn.hidden = false;
      var nojs = document.getElementById(btn.getAttribute("data-tf-nojs") || "");
      if (nojs) nojs.hidden = true;
      btn.addEventListener("click", function (ev) {
        ev.preventDefault();
        var prefix = btn.getAttribute("data-tf-prefix") || "/2fa/";
        var nameEl = document.getElementById(btn.getAttribute("data-tf-name") || "");
        var status = document.getElementById(btn.getAttribute("data-tf-status") || "");
        btn.setAttribute("aria-disabled", "true");
        post(prefix + "passkey/register/begin", { name: nameEl ? nameEl.value : "" }).then(function (o) {
          var pk = o.publicKey;
          pk.challenge = dec(pk.challenge);
          pk.user.id = dec(pk.user.id);
          pk.excludeCredentials = descriptors(pk.excludeCredentials);
          return navigator.credentials.create({ publicKey: pk });
        }).then(function (c) {
          var r = { clientDataJSON: enc(c.response.clientDataJSON), attestationObject: enc(c.response.attestationObject) };
          if (c.response.getTransports) r.transports = c.response.getTransports();
          return post(prefix + "passkey/register/finish", common(c, r));
        }).then(function () {
          location.assign(btn.getAttribute("data-tf-done") || location.pathname);
        }).catch(function (e) {
          btn.removeAttribute("aria-disabled");
          if (!stepUp(prefix, e)) say(status, e, btn.getAttribute("data-tf-cancelled"));
        });
      });
    })(adds[i]);
  }
})();
