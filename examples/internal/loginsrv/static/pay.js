// Payment approval for puce's login example. The server holds the payment;
// this script asks httpauth's approval endpoints for a challenge bound to
// it, lets the chosen factor answer (the card agent, a security key or
// passkey, the holder typing a signing token's answer), and posts the
// answer with the payment the page showed, which the server compares with
// its own copy.
"use strict";

document.addEventListener("DOMContentLoaded", async () => {
  const box = document.getElementById("approve");
  if (!box) return;
  const kind = box.dataset.kind;
  const status = document.getElementById("approve-status");

  async function call(step, body) {
    const resp = await fetch("/auth/approve/" + encodeURIComponent(kind) + "/" + step, {
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
