// Security keys and passkeys (WebAuthn) for puce's login example.
//
// The server sends the ceremony's options as JSON, with binary members in
// base64url (W3C WebAuthn §5.1.8 uses the same form for toJSON); this script
// turns them into the ArrayBuffers navigator.credentials wants, runs the
// ceremony, and posts the credential back as JSON in a plain form field, so
// the answer rides on the page's own form and CSRF token.
"use strict";

const puceWebAuthn = (() => {
  function fromB64url(s) {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
    const bin = atob(b64);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buf) {
    if (buf === null || buf === undefined) return undefined;
    const bytes = new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map((d) => Object.assign({}, d, { id: fromB64url(d.id) }));
  }

  // creationOptions and requestOptions decode the publicKey member of the
  // server's options.
  function creationOptions(pk) {
    const o = Object.assign({}, pk);
    o.challenge = fromB64url(pk.challenge);
    o.user = Object.assign({}, pk.user, { id: fromB64url(pk.user.id) });
    o.excludeCredentials = descriptors(pk.excludeCredentials);
    return o;
  }

  function requestOptions(pk) {
    const o = Object.assign({}, pk);
    o.challenge = fromB64url(pk.challenge);
    o.allowCredentials = descriptors(pk.allowCredentials);
    return o;
  }

  // credentialJSON writes a PublicKeyCredential the way toJSON does
  // (registration or assertion), for go-webauthn's parser.
  function credentialJSON(cred) {
    const r = cred.response;
    const response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) response.userHandle = toB64url(r.userHandle);
    }
    return JSON.stringify({
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      response: response,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    });
  }

  // explain says in words what a failed ceremony means (the DOMException
  // names of W3C WebAuthn §5.1.3 and §5.1.4).
  function explain(e, creating) {
    switch (e && e.name) {
      case "NotAllowedError":
        return creating
          ? "No security key or passkey was added: the request was cancelled or timed out. Press the button to try again."
          : "No security key or passkey answered: the request was cancelled or timed out, or none that is registered here is present. Plug in your key (or pick the right passkey) and try again.";
      case "InvalidStateError":
        return "This authenticator is already registered for your account. Use another one.";
      case "SecurityError":
        return "Your browser refused: this site's address is not allowed to use security keys (WebAuthn needs https, or localhost).";
      case "NotSupportedError":
        return "Your security key or browser does not support what this site asks for (for a passkey, an authenticator that can keep one and check a PIN or fingerprint).";
      case "AbortError":
        return "The request was cancelled.";
      case "ConstraintError":
        return "Your authenticator cannot check a PIN or fingerprint, which a passkey needs here.";
    }
    return "Your browser could not talk to the security key: " + (e && e.message ? e.message : String(e));
  }

  function supported() {
    return typeof window.PublicKeyCredential === "function" && navigator.credentials;
  }

  function status(text, bad) {
    const el = document.getElementById("webauthn-status");
    if (!el) return;
    el.textContent = text;
    el.className = bad ? "error" : "notice";
    el.setAttribute("role", bad ? "alert" : "status");
    el.hidden = false;
  }

  return { fromB64url, toB64url, creationOptions, requestOptions, credentialJSON, explain, supported, status };
})();

document.addEventListener("DOMContentLoaded", () => {
  const W = puceWebAuthn;

  // Registration (enrol a security key or create a passkey) and the second
  // step of a login (or step-up): the options are in the form's
  // data-options; the answer goes into its "credential" field.
  for (const [formID, creating] of [["webauthn-enroll-form", true], ["webauthn-form", false]]) {
    const form = document.getElementById(formID);
    if (!form) continue;
    const button = document.getElementById("webauthn-go");
    if (!W.supported()) {
      W.status("This browser does not support security keys or passkeys (WebAuthn). Use another browser or another method.", true);
      button.disabled = true;
      continue;
    }
    button.addEventListener("click", async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      W.status(creating ? "Follow your browser's instructions: touch your key, or confirm on your device…" : "Touch your security key, or confirm on your device…");
      try {
        const opts = JSON.parse(form.dataset.options);
        const cred = creating
          ? await navigator.credentials.create({ publicKey: W.creationOptions(opts.publicKey) })
          : await navigator.credentials.get({ publicKey: W.requestOptions(opts.publicKey) });
        form.elements.credential.value = W.credentialJSON(cred);
        W.status("Checking…");
        form.submit();
      } catch (e) {
        W.status(W.explain(e, creating), true);
        button.disabled = false;
      }
    });
  }

  // Passkey login on the login page: a button, and passkey autofill in the
  // user name field (conditional mediation) where the browser offers it.
  const pform = document.getElementById("passkey-form");
  if (!pform || !W.supported()) return;
  pform.hidden = false;
  const pbutton = document.getElementById("passkey-go");
  const csrf = pform.elements.csrf_token.value;
  let pending = null; // the conditional request, aborted before a modal one

  // options asks the server for a fresh username-less challenge.
  async function options() {
    const resp = await fetch("/login/passkey/options", { method: "POST", headers: { "X-CSRF-Token": csrf } });
    const j = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(j.error || "The server could not start a passkey login. Reload the page and try again.");
    return j;
  }

  function finish(challenge, cred) {
    pform.elements.challenge.value = challenge;
    pform.elements.credential.value = W.credentialJSON(cred);
    W.status("Checking your passkey…");
    pform.submit();
  }

  async function conditional() {
    if (!PublicKeyCredential.isConditionalMediationAvailable) return;
    if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
    const ctl = new AbortController();
    pending = ctl;
    try {
      const o = await options();
      const cred = await navigator.credentials.get({ mediation: "conditional", publicKey: W.requestOptions(o.options.publicKey), signal: ctl.signal });
      if (pending === ctl) finish(o.challenge, cred);
    } catch (e) {
      // An aborted autofill is the button taking over; any other failure
      // leaves the user the button and the password form.
      if (e && e.name !== "AbortError" && pending === ctl) console.info("passkey autofill:", e);
    }
  }

  pbutton.addEventListener("click", async (ev) => {
    ev.preventDefault();
    if (pending) {
      pending.abort();
      pending = null;
    }
    pbutton.disabled = true;
    W.status("Pick your passkey and confirm with your PIN, fingerprint or face…");
    try {
      const o = await options();
      const cred = await navigator.credentials.get({ publicKey: W.requestOptions(o.options.publicKey) });
      finish(o.challenge, cred);
    } catch (e) {
      W.status(e instanceof DOMException ? W.explain(e, false) : e.message, true);
      pbutton.disabled = false;
    }
  });

  // After a failed login the page waits for the user's own choice rather
  // than offering again, unasked, the passkey that just failed.
  if (!document.getElementById("error")) conditional();
});
