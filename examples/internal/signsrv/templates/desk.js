// The signing desk's pages on puce's httpauth endpoints (/auth/…, see
// /auth/openapi.json): the card agent shows the holder what is asked and
// takes the PIN; this script only moves bytes between the agent and the
// endpoints.
"use strict";

async function api(box, path, body) {
  const resp = await fetch("/auth/" + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": box.dataset.csrf },
    body: JSON.stringify(body || {}),
  });
  const j = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(j.error || "The server refused.");
  if (j.csrfToken) box.dataset.csrf = j.csrfToken; // renewed with the session
  return j;
}

function onClick(id, box, status, fn) {
  const button = document.getElementById(id);
  if (!button) return;
  button.addEventListener("click", async () => {
    button.disabled = true;
    const popup = puceAgent.openWindow();
    try {
      setStatus(status, "Waiting for you in the card agent window…");
      await fn(popup);
    } catch (e) {
      setStatus(status, e.message, true);
      button.disabled = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  // Sign in: a card login with no user name; the card names the account.
  const login = document.getElementById("card-login");
  if (login) {
    onClick("card-go", login, document.getElementById("card-status"), async (popup) => {
      const ch = await api(login, "login/card/begin");
      const req = await puceAgent.start(login.dataset.agent, { kind: "authenticate", nonce: ch.payload }, popup);
      const result = await puceAgent.wait(login.dataset.agent, req.id);
      await api(login, "login/card/finish", { challengeId: ch.challengeId, response: JSON.parse(result.token) });
      location.href = "/?notice=" + encodeURIComponent("Signed in with your card.");
    });
  }
  // Sign: the agent shares the 9C certificate, the server prepares the
  // signature for it, the agent checks it names this document and the card
  // signs its digest.
  const box = document.getElementById("sign-box");
  if (box) {
    const status = document.getElementById("sign-status");
    const id = box.dataset.id;
    // A PDF is signed on the server: the agent is told its name, size and
    // hash, gets its bytes (up to the agent's 10 MB) only to show the
    // holder its first page, and gets the signing request the server
    // prepared.
    if (box.dataset.pdf) {
      onClick("sign-go", box, status, async (popup) => {
        const size = Number(box.dataset.size);
        let document;
        if (size <= 10 << 20) {
          const doc = await fetch("/sign/" + encodeURIComponent(id) + "/document");
          if (!doc.ok) throw new Error("This document is gone. Upload it again.");
          document = b64(await doc.arrayBuffer());
        }
        const req = await puceAgent.start(box.dataset.agent, {
          kind: "sign", name: box.dataset.name, document,
          pdf: { size, sha256: box.dataset.sha256 },
        }, popup);
        let ch = null;
        const result = await puceAgent.wait(box.dataset.agent, req.id, async (j) => {
          if (j.status !== "certificate" || ch) return false;
          ch = await api(box, "sign/begin", { documentId: id, certificate: j.certificate });
          const resp = await fetch(box.dataset.agent + "/v1/requests/" + encodeURIComponent(req.id) + "/attributes", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ pdfRequest: ch.payload }),
          });
          if (!resp.ok) {
            const e = await resp.json().catch(() => ({}));
            throw new Error(e.error || "The card agent refused the signing request.");
          }
          return true;
        });
        setStatus(status, "Card signed; timestamping and adding the validation data…");
        await api(box, "sign/finish", { challengeId: ch.challengeId, documentId: id, signature: result.signature });
        location.href = "/sign/" + encodeURIComponent(id) + "?notice=" + encodeURIComponent("Signed. Download the signed PDF.");
      });
      return;
    }
    onClick("sign-go", box, status, async (popup) => {
      const doc = await fetch("/sign/" + encodeURIComponent(id) + "/document");
      if (!doc.ok) throw new Error("This document is gone. Upload it again.");
      const bytes = await doc.arrayBuffer();
      const req = await puceAgent.start(box.dataset.agent, { kind: "sign", document: b64(bytes), name: box.dataset.name }, popup);
      let ch = null;
      const result = await puceAgent.wait(box.dataset.agent, req.id, async (j) => {
        if (j.status !== "certificate" || ch) return false;
        ch = await api(box, "sign/begin", { documentId: id, certificate: j.certificate });
        const resp = await fetch(box.dataset.agent + "/v1/requests/" + encodeURIComponent(req.id) + "/attributes", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ signedAttributes: ch.payload.signedAttributes }),
        });
        if (!resp.ok) {
          const e = await resp.json().catch(() => ({}));
          throw new Error(e.error || "The card agent refused the signature data.");
        }
        return true;
      });
      setStatus(status, "Card signed; assembling the signature…");
      await api(box, "sign/finish", { challengeId: ch.challengeId, documentId: id, signature: result.signature });
      location.href = "/sign/" + encodeURIComponent(id) + "?notice=" + encodeURIComponent("Signed. Download the signature and keep it with the document.");
    });
  }
});
