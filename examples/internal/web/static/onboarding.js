// "Verify my identity document": asks the card agent for a disclosure of the
// data groups the site names, bound to the server's challenge. The agent's
// own window takes the CAN and shows the holder what would be sent; this
// page only receives what the holder accepted, and posts it to the server.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("idoc-form");
  if (!form) return;
  const button = document.getElementById("idoc-go");
  const status = document.getElementById("idoc-status");
  const groups = (s) => (s ? s.split(",").map(Number) : []);
  button.addEventListener("click", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    const popup = puceAgent.openWindow();
    try {
      setStatus(status, "Waiting for you in the card agent window…");
      const req = await puceAgent.start(
        form.dataset.agent,
        { kind: "identity", nonce: form.dataset.nonce, require: groups(form.dataset.require), optional: groups(form.dataset.optional) },
        popup,
      );
      const result = await puceAgent.wait(form.dataset.agent, req.id, (j) => {
        if (j.status === "review") setStatus(status, "The card was read: check in the agent window what would be sent…");
        return false;
      });
      form.elements.disclosure.value = result.disclosure;
      setStatus(status, "Received; checking…");
      form.submit();
    } catch (e) {
      setStatus(status, e.message, true);
      button.disabled = false;
    }
  });
});
