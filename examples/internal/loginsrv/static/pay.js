// Payment approval for puce's login example. The server holds the payment;
// this script asks httpauth's approval endpoints for a challenge bound to
// it, lets the chosen factor answer (the card agent, a security key or
// passkey, the holder typing a signing token's answer), and posts the
// answer with the payment the page showed, which the server compares with
// its own copy.
//
// A passkey registered for payments answers through Secure Payment
// Confirmation where the browser has it (W3C SPC): the browser's own
// window shows the amount, the payee and the account, and the passkey
// signs them; the route is then /auth/approve/webauthn-spc/…. Elsewhere
// the same passkey answers a plain WebAuthn approval.
"use strict";

document.addEventListener("DOMContentLoaded", async () => {
  const box = document.getElementById("approve");
  if (!box) return;
  const kind = box.dataset.kind;
  const status = document.getElementById("approve-status");

  // spcAvailable asks the browser whether it can run SPC now (SPC
  // §sctn-secure-payment-confirmation-availability); browsers without
  // the method have no such function.
  async function spcAvailable() {
    try {
      return !!window.PaymentRequest && typeof PaymentRequest.securePaymentConfirmationAvailability === "function" &&
        (await PaymentRequest.securePaymentConfirmationAvailability()) === "available";
    } catch (e) {
      return false;
    }
  }
  let route = kind;
  if (kind === "webauthn" && box.dataset.spc === "1" && (await spcAvailable())) {
    route = "webauthn-spc";
    document.getElementById("key-plain").hidden = true;
    document.getElementById("key-spc").hidden = false;
    document.getElementById("key-no-spc").hidden = false;
    document.getElementById("key-go").textContent = "Approve in the payment window";
  }
  box.dataset.route = route;

  async function call(step, body) {
    const resp = await fetch("/auth/approve/" + encodeURIComponent(route) + "/" + step, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": box.dataset.csrf },
      body: JSON.stringify(body),
    });
    const j = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error((j.error || "The server refused the approval.") + " The payment was not made.");
    return j;
  }

  function failed(e) {
    const msg = e instanceof DOMException ? puceWebAuthn.explain(e, false) : e.message;
    setStatus(status, msg, true);
    document.getElementById("approve-again").hidden = false;
  }

  // The challenge and the payment it is for wait in the page's data
  // attributes until the holder acts.
  try {
    const ch = await call("begin", {});
    box.dataset.challenge = ch.challengeId;
    box.dataset.transaction = JSON.stringify(ch.transaction);
    box.dataset.payload = typeof ch.payload === "string" ? ch.payload : JSON.stringify(ch.payload);
  } catch (e) {
    failed(e);
    return;
  }

  // run gets the factor's answer from answer() and finishes the approval.
  async function run(button, answer) {
    button.disabled = true;
    try {
      const response = await answer();
      setStatus(status, "Checking…");
      await call("finish", { challengeId: box.dataset.challenge, response: response, transaction: JSON.parse(box.dataset.transaction) });
      location.href = "/pay/done";
    } catch (e) {
      failed(e);
    }
  }

  // spcAnswer runs the payment dialog over the server's Payment Request
  // (webauthn.Factor.BeginSPC) and returns the passkey's assertion, whose
  // client data (type "payment.get") repeats what the dialog showed.
  async function spcAnswer(p) {
    const d = p.methodData[0].data;
    d.challenge = puceWebAuthn.fromB64url(d.challenge);
    d.credentialIds = d.credentialIds.map(puceWebAuthn.fromB64url);
    const resp = await new PaymentRequest(p.methodData, p.details).show();
    await resp.complete("success");
    return JSON.parse(puceWebAuthn.credentialJSON(resp.details));
  }

  const buttons = {
    card: () => {
      const b = document.getElementById("card-go");
      b.addEventListener("click", (ev) => {
        ev.preventDefault();
        const popup = puceAgent.openWindow(); // now, within the click
        run(b, async () => {
          setStatus(status, "Waiting for you in the card agent window…");
          const req = await puceAgent.start(box.dataset.agent, { kind: "approve", approval: JSON.parse(box.dataset.payload) }, popup);
          const result = await puceAgent.wait(box.dataset.agent, req.id);
          return result.token;
        });
      });
      return b;
    },
    webauthn: () => {
      const b = document.getElementById("key-go");
      b.addEventListener("click", (ev) => {
        ev.preventDefault();
        run(b, async () => {
          if (route === "webauthn-spc") {
            setStatus(status, "Check the payment in your browser's window and confirm it with your passkey…");
            return spcAnswer(JSON.parse(box.dataset.payload));
          }
          setStatus(status, "Touch your security key, or confirm on your device…");
          const o = JSON.parse(box.dataset.payload);
          const cred = await navigator.credentials.get({ publicKey: puceWebAuthn.requestOptions(o.publicKey) });
          return JSON.parse(puceWebAuthn.credentialJSON(cred));
        });
      });
      return b;
    },
    ocra: () => {
      document.getElementById("ocra-question").textContent = box.dataset.payload;
      const b = document.getElementById("ocra-go");
      document.getElementById("ocra-form").addEventListener("submit", (ev) => {
        ev.preventDefault();
        run(b, async () => document.getElementById("ocra-code").value.trim());
      });
      return b;
    },
  };
  if (buttons[kind]) {
    buttons[kind]().disabled = false;
    box.dataset.ready = "1";
  }
});
