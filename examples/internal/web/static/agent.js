// Talks to puce's card agent on 127.0.0.1. The page never sees the PIN: it
// only asks the agent for something (a signed login nonce, a document
// signature), and the agent opens its own window where the holder sees who
// asks and types the PIN. The page then collects the agent's answer.
"use strict";

const puceAgent = (() => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // start creates a request at the agent and opens the agent's own window
  // for it. It must run inside the click handler: browsers allow a popup
  // only there.
  async function start(agentURL, body, popup) {
    let resp;
    try {
      resp = await fetch(agentURL + "/v1/requests", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch (e) {
      if (popup) popup.close();
      throw new Error("The card agent is not running on this computer. Start it (see the instructions), then try again.");
    }
    const j = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      if (popup) popup.close();
      throw new Error(j.error || "The card agent refused the request.");
    }
    if (popup) {
      popup.location.href = j.prompt;
    } else {
      offerLink(j.prompt);
    }
    return j;
  }

  // wait polls the agent until the holder has answered in the agent window.
  async function wait(agentURL, id, onUpdate) {
    const deadline = Date.now() + 5 * 60 * 1000;
    while (Date.now() < deadline) {
      let j;
      try {
        const resp = await fetch(agentURL + "/v1/requests/" + encodeURIComponent(id));
        j = await resp.json();
      } catch (e) {
        throw new Error("Lost contact with the card agent.");
      }
      if (onUpdate && (await onUpdate(j))) continue;
      if (j.status === "done") return j.result;
      if (j.status === "failed" || j.status === "cancelled" || j.status === "unknown") {
        throw new Error(j.error || "The card operation was cancelled.");
      }
      await sleep(400);
    }
    throw new Error("No answer from the card agent in five minutes.");
  }

  // offerLink shows a link to the agent's window when the browser blocked
  // the popup: the holder opens it, and this page waits all the same.
  function offerLink(url) {
    let box = document.getElementById("agent-link-box");
    if (!box) {
      box = document.createElement("p");
      box.id = "agent-link-box";
      box.className = "warning";
      document.querySelector("main").appendChild(box);
    }
    box.textContent = "Your browser blocked the card agent's window. ";
    const a = document.createElement("a");
    a.id = "agent-link";
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener";
    a.textContent = "Open the card agent";
    box.appendChild(a);
  }

  function openWindow() {
    // A blank window opened now, during the click, which start() then
    // points at the agent's prompt: the request to the agent is
    // asynchronous and a popup opened after it would be blocked.
    return window.open("about:blank", "puce-agent", "popup,width=560,height=720");
  }

  return { start, wait, openWindow };
})();

function b64(buf) {
  let s = "";
  const bytes = new Uint8Array(buf);
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function setStatus(el, text, bad) {
  if (!el) return;
  el.textContent = text;
  el.className = bad ? "error" : "notice";
  el.hidden = false;
}

// Card login and enrolment: the form carries the agent's URL and the nonce;
// the token the agent returns goes into the form's hidden "token" field.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("card-form");
  if (!form) return;
  const button = document.getElementById("card-go");
  const status = document.getElementById("card-status");
  button.addEventListener("click", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    const popup = puceAgent.openWindow();
    try {
      setStatus(status, "Waiting for you in the card agent window…");
      // A payment approval hands the agent the server's approval payload,
      // which the agent decodes and shows; a login, the nonce.
      const body = form.dataset.kind === "approve"
        ? { kind: "approve", approval: JSON.parse(form.dataset.approval) }
        : { kind: "authenticate", nonce: form.dataset.nonce };
      const req = await puceAgent.start(form.dataset.agent, body, popup);
      const result = await puceAgent.wait(form.dataset.agent, req.id);
      form.elements.token.value = result.token;
      setStatus(status, "Card answered; checking…");
      form.submit();
    } catch (e) {
      setStatus(status, e.message, true);
      button.disabled = false;
    }
  });
});
