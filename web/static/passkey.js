// The passkey forms (WebAuthn). A file of its own, not inline: the pages'
// Content-Security-Policy allows script from hallpass itself only. Each
// form[data-passkey] carries the ceremony's options; its button asks the
// browser for a passkey (navigator.credentials.get, or .create to set one
// up), and the form then posts the answer as "credential". Without script,
// or in a browser without passkeys, the forms (and the sections that hold
// only them, [data-passkey-section]) stay hidden and the rest of the page
// works as before.
"use strict";
(function () {
  function toBuffer(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toBase64URL(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeIDs(list) {
    (list || []).forEach(function (c) {
      c.id = toBuffer(c.id);
    });
  }

  function encode(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toBase64URL(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64URL(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toBase64URL(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toBase64URL(r.authenticatorData);
      out.response.signature = toBase64URL(r.signature);
      if (r.userHandle) {
        out.response.userHandle = toBase64URL(r.userHandle);
      }
    }
    return JSON.stringify(out);
  }

  function ceremony(form) {
    var opts = JSON.parse(form.getAttribute("data-options"));
    opts.challenge = toBuffer(opts.challenge);
    if (form.getAttribute("data-passkey") === "create") {
      opts.user.id = toBuffer(opts.user.id);
      decodeIDs(opts.excludeCredentials);
      return navigator.credentials.create({ publicKey: opts });
    }
    decodeIDs(opts.allowCredentials);
    return navigator.credentials.get({ publicKey: opts });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      return;
    }
    document.querySelectorAll("[data-passkey-section]").forEach(function (section) {
      section.hidden = false;
    });
    document.querySelectorAll("form[data-passkey]").forEach(function (form) {
      var error = form.querySelector("[data-passkey-error]");
      var button = form.querySelector("button[type=submit]");
      form.hidden = false;
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        error.hidden = true;
        button.disabled = true;
        ceremony(form).then(function (cred) {
          form.elements.credential.value = encode(cred);
          form.submit();
        }, function (err) {
          button.disabled = false;
          error.textContent = err && err.name === "NotAllowedError"
            ? "No passkey was used. Try again, or use another way to sign in."
            : "Your browser could not use a passkey here (" + (err && err.name ? err.name : "error") + ").";
          // An alert only once there is one: a page's hidden element
          // should not count as its error.
          error.setAttribute("role", "alert");
          error.hidden = false;
        });
      });
    });
  });
})();
