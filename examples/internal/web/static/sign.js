// The signing page: the card agent shows the holder the document and takes
// the PIN; this page only moves bytes between the agent and this site.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("sign-box");
  if (!box) return;
  const button = document.getElementById("sign-go");
  const status = document.getElementById("sign-status");
  const id = box.dataset.id;
  // The document's endpoints: the signing desk's /sign/{id}, or another
  // base a page names (the login server's usage policy, /policy).
  const base = box.dataset.base || "/sign/" + encodeURIComponent(id);
  const post = async (step, body) => {
    const resp = await fetch(base + "/" + step, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": box.dataset.csrf },
      body: JSON.stringify(body),
    });
    const j = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(j.error || "The server refused the signature.");
    return j;
  };
  button.addEventListener("click", async () => {
    button.disabled = true;
    const popup = puceAgent.openWindow();
    try {
      const doc = await fetch(base + "/document");
      if (!doc.ok) throw new Error("This document is gone. Upload it again.");
      const bytes = await doc.arrayBuffer();
      setStatus(status, "Waiting for you in the card agent window…");
      const req = await puceAgent.start(box.dataset.agent, { kind: "sign", document: b64(bytes), name: box.dataset.name }, popup);
      let sent = false;
      const result = await puceAgent.wait(box.dataset.agent, req.id, async (j) => {
        if (j.status !== "certificate" || sent) return false;
        sent = true;
        // The holder shared the signing certificate: build the signed
        // attributes for it and hand them to the agent, which checks they
        // name this document before the card signs.
        const prep = await post("prepare", { certificate: j.certificate });
        const resp = await fetch(box.dataset.agent + "/v1/requests/" + encodeURIComponent(req.id) + "/attributes", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ signedAttributes: prep.signedAttributes }),
        });
        if (!resp.ok) {
          const e = await resp.json().catch(() => ({}));
          throw new Error(e.error || "The card agent refused the signature data.");
        }
        return true;
      });
      setStatus(status, "Card signed; assembling the signature…");
      const done = await post("finish", { signature: result.signature });
      location.href = done.next;
    } catch (e) {
      setStatus(status, e.message, true);
      button.disabled = false;
    }
  });
});
