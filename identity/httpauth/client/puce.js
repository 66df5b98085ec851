// puce.js: the browser side of identity/httpauth's JSON endpoints, as one
// ES module with no build step. The server serves it (httpauth.Script, or
// Endpoints at Prefix + "/puce.js"); a page imports it:
//
//   import { Client } from "/auth/puce.js";
//   const puce = new Client();                  // the endpoints beside the module
//   await puce.password(user, pass);             // first factor
//   await puce.login("totp", code);              // a code the user typed
//   await puce.login("webauthn");                // a security key or passkey
//   await puce.login("card");                    // the card, through the local agent
//   await puce.sign("contract-7", { document: "/contract-7.pdf" }); // signed with the card
//
// Every call resolves to the server's answer (openapi.json's State,
// Challenge, Credential or Approval) or rejects with a PuceError that carries
// the server's public message (safe to show), the HTTP status, the
// Retry-After seconds and, after a wrong second factor, the tries left. The session's CSRF token is kept here and renewed from
// every answer; the session cookie is HttpOnly and never seen by the page.
//
// The card never talks to the page: the module asks the holder's card agent
// (on 127.0.0.1) for a token over the server's nonce, the agent shows the
// holder which origin asks and takes the PIN in its own window, and the
// module posts the token it returns, as web-eid.js does with its extension.

// PuceError is any refusal: status is the HTTP status (0 when the server was
// not reached), retryAfter the seconds to wait when the server said so, and
// triesLeft, after a wrong second factor, how many more failures this factor
// may have before it locks (undefined when the server does not tell: before
// the account is proven, or on the password step).
export class PuceError extends Error {
  constructor(message, { status = 0, retryAfter = 0, triesLeft, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "PuceError";
    this.status = status;
    this.retryAfter = retryAfter;
    this.triesLeft = triesLeft;
  }
}

// WebAuthnError: the browser's ceremony failed; reason is the DOMException's
// name (NotAllowedError, InvalidStateError, ...), the message says it in words.
export class WebAuthnError extends PuceError {
  constructor(message, reason, cause) {
    super(message, { cause });
    this.name = "WebAuthnError";
    this.reason = reason;
  }
}

// CardAgentError: the card agent is not running, refused, or the holder
// cancelled in its window; status is the agent's HTTP status, if any.
export class CardAgentError extends PuceError {
  constructor(message, opts) {
    super(message, opts);
    this.name = "CardAgentError";
  }
}

// Base64url without padding (RFC 4648 §5), the form WebAuthn's JSON uses
// (W3C WebAuthn L3 §5.1.8, toJSON).
export function fromBase64url(s) {
  // A length of 4n+1 characters encodes no whole byte (RFC 4648 §4).
  if (typeof s !== "string" || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) {
    throw new PuceError("The server sent malformed data.");
  }
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - (s.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

export function toBase64url(buf) {
  return toBase64(buf).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// toBase64 is standard base64 of an ArrayBuffer or view (the card agent's
// form for documents).
export function toBase64(buf) {
  const bytes = ArrayBuffer.isView(buf) ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : new Uint8Array(buf);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

const descriptors = (list) => (list || []).map((d) => ({ ...d, id: fromBase64url(d.id) }));

// creationOptions and requestOptions turn the server's JSON options (the
// payload's publicKey member) into what navigator.credentials wants.
export function creationOptions(pk) {
  return { ...pk, challenge: fromBase64url(pk.challenge), user: { ...pk.user, id: fromBase64url(pk.user.id) }, excludeCredentials: descriptors(pk.excludeCredentials) };
}

export function requestOptions(pk) {
  return { ...pk, challenge: fromBase64url(pk.challenge), allowCredentials: descriptors(pk.allowCredentials) };
}

// credentialToJSON writes a PublicKeyCredential as toJSON() does
// (registration or assertion), for browsers that lack it.
export function credentialToJSON(cred) {
  const r = cred.response;
  const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toBase64url(r.attestationObject);
    if (r.getTransports) response.transports = r.getTransports();
  } else {
    response.authenticatorData = toBase64url(r.authenticatorData);
    response.signature = toBase64url(r.signature);
    if (r.userHandle) response.userHandle = toBase64url(r.userHandle);
  }
  return {
    id: cred.id, rawId: toBase64url(cred.rawId), type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
    response, clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
  };
}

// The DOMException names of W3C WebAuthn §5.1.3 and §5.1.4, in words.
const webauthnWords = {
  NotAllowedError: "No security key or passkey answered: the request was cancelled or timed out, or none registered here is present.",
  InvalidStateError: "This authenticator is already registered for your account. Use another one.",
  SecurityError: "The browser refused: this address may not use security keys (WebAuthn needs https, or localhost).",
  NotSupportedError: "Your security key or browser does not support what this site asks for.",
  AbortError: "The request was cancelled.",
  ConstraintError: "Your authenticator cannot check a PIN or fingerprint, which this site needs.",
};

async function ceremony(create, publicKey, extra) {
  if (typeof PublicKeyCredential !== "function" || !navigator.credentials) {
    throw new WebAuthnError("This browser does not support security keys or passkeys.", "NotSupportedError");
  }
  try {
    const cred = create
      ? await navigator.credentials.create({ ...extra, publicKey: creationOptions(publicKey) })
      : await navigator.credentials.get({ ...extra, publicKey: requestOptions(publicKey) });
    return credentialToJSON(cred);
  } catch (e) {
    if (e instanceof PuceError) throw e;
    const name = (e && e.name) || "Error";
    throw new WebAuthnError(webauthnWords[name] || "The browser could not talk to the security key.", name, e);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Client calls the endpoints of one site. Options:
//   base:   where the endpoints are ("/auth/"; default: beside this module)
//   agent:  the card agent's origin (default http://127.0.0.1:24727), as
//           the agent names itself: the client opens only prompts of it
//   cardKinds: factor kinds answered through the agent (default ["card"])
//   onAgentPrompt(url): called when the browser blocked the agent's window;
//           it may return a function called once the request ends. The
//           default adds a link (id puce-agent-link) to the page meanwhile.
export class Client {
  constructor(opts = {}) {
    this.base = (opts.base || new URL(".", import.meta.url).pathname).replace(/\/?$/, "/");
    this.agent = (opts.agent || "http://127.0.0.1:24727").replace(/\/$/, "");
    this.cardKinds = opts.cardKinds || ["card"];
    this.onAgentPrompt = opts.onAgentPrompt || defaultAgentLink;
    this.csrf = "";
    this.state = null;
  }

  #conditional = null; // the pending conditional passkey request
  #queue = Promise.resolve();

  // call posts (or gets) one endpoint and returns its JSON answer. Calls
  // go one at a time: an answer that renews the session changes the cookie
  // and the CSRF token, which a request sent alongside would lack.
  call(method, path, body) {
    const answer = this.#queue.then(() => this.#send(method, path, body));
    this.#queue = answer.catch(() => {});
    return answer;
  }

  async #send(method, path, body) {
    if (method !== "GET" && !this.csrf) await this.#send("GET", "session");
    const headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRF-Token"] = this.csrf;
    }
    let resp;
    try {
      resp = await fetch(this.base + path.replace(/^\//, ""), {
        method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new PuceError("The server cannot be reached. Check your connection and try again.", { cause: e });
    }
    const j = resp.status === 204 ? {} : await resp.json().catch(() => ({}));
    if (!resp.ok) {
      // The session may have ended or moved on (another tab renewed it):
      // the next call reads it again for a fresh token.
      if (resp.status === 401 || resp.status === 403) this.csrf = "";
      throw new PuceError(j.error || "The server refused the request (" + resp.status + ").", {
        status: resp.status, retryAfter: parseInt(resp.headers.get("Retry-After") || "0", 10) || 0,
        triesLeft: Number.isSafeInteger(j.triesLeft) && j.triesLeft >= 0 ? j.triesLeft : undefined,
      });
    }
    if (j.csrfToken) {
      this.csrf = j.csrfToken;
      this.state = j;
    }
    return j;
  }

  // session returns where the session stands (starting one) and keeps its
  // CSRF token.
  session() { return this.call("GET", "session"); }

  password(username, password) { return this.call("POST", "password", { username, password }); }

  signUp(username, password) { return this.call("POST", "signup", { username, password }); }

  async logout() {
    await this.call("POST", "logout");
    this.csrf = "";
    this.state = null;
  }

  // begin starts a ceremony: action is "login", "enroll" or "approve".
  begin(action, kind) { return this.call("POST", `${action}/${encodeURIComponent(kind)}/begin`, {}); }

  // finish posts the answer to a challenge begin returned; extra holds
  // enrolment's name or approval's transaction.
  finish(action, challenge, response, extra = {}) {
    return this.call("POST", `${action}/${encodeURIComponent(challenge.kind)}/finish`, { challengeId: challenge.challengeId, response, ...extra });
  }

  // login begins and finishes a login (or step-up) with one factor.
  // answer is what the user typed (a TOTP or recovery code), or a function
  // given the challenge that returns it; omit it for WebAuthn and the card.
  // For WebAuthn, opts are passed to navigator.credentials.get (mediation,
  // signal); for the card, the agent's window opens now, in the click.
  login(kind, answer, opts = {}) { return this.#run("login", kind, answer, opts); }

  // passkey logs in with a passkey alone, no user name. With
  // {mediation: "conditional"} it waits for the user to pick one in the
  // autofill of an input with autocomplete="username webauthn" (resolving
  // to null when that is unavailable); pass a signal to abort it.
  // Any other ceremony of this client (login, enroll, approve) first
  // cancels a pending conditional one, which then resolves to null.
  async passkey(opts = {}) {
    if (opts.mediation !== "conditional") return this.login(opts.kind || "webauthn", undefined, opts);
    const ok = typeof PublicKeyCredential === "function" && PublicKeyCredential.isConditionalMediationAvailable &&
      (await PublicKeyCredential.isConditionalMediationAvailable());
    if (!ok) return null;
    const ctl = new AbortController();
    if (opts.signal) opts.signal.addEventListener("abort", () => ctl.abort(opts.signal.reason));
    this.#conditional = ctl;
    try {
      return await this.login(opts.kind || "webauthn", undefined, { ...opts, signal: ctl.signal });
    } catch (e) {
      if (ctl.signal.aborted && !(opts.signal && opts.signal.aborted)) return null;
      throw e;
    } finally {
      if (this.#conditional === ctl) this.#conditional = null;
    }
  }

  // enroll adds a factor: for WebAuthn and the card in one call; for TOTP
  // pass {code: async (challenge) => code} (show challenge.qrCode, then
  // resolve with what the user types), or use begin and finish yourself.
  enroll(kind, opts = {}) { return this.#run("enroll", kind, opts.code, opts); }

  // approve approves the pending payment: opts.confirm(transaction) runs
  // before the factor is asked (return false to stop), and what the server
  // holds is what is sent back as shown.
  approve(kind, opts = {}) { return this.#run("approve", kind, opts.code, opts); }

  // sign signs a document the application holds (EndpointsConfig.Signing)
  // with the card's signature key (9C): the holder's agent shows the
  // document, shares the signing certificate, checks that what the server
  // prepared names this document, and asks the PIN for this one signature.
  // document is the document's bytes (ArrayBuffer, typed array, Blob) or a
  // URL to fetch them from: the agent shows them, and the server signs only
  // what it holds for documentId. Resolves to the server's answer.
  async sign(documentId, { document, name } = {}) {
    const popup = openAgentWindow(); // now, in the click
    if (this.#conditional) this.#conditional.abort();
    try {
      let bytes = document;
      if (typeof bytes === "string") {
        const resp = await fetch(bytes, { credentials: "same-origin" }).catch(() => null);
        if (!resp || !resp.ok) throw new PuceError("The document to sign could not be loaded.", { status: resp ? resp.status : 0 });
        bytes = await resp.arrayBuffer();
      } else if (bytes instanceof Blob) {
        bytes = await bytes.arrayBuffer();
      }
      let ch = null;
      const result = await this.agentRequest({ kind: "sign", document: toBase64(bytes), name: name || documentId }, popup, async (s, id) => {
        if (s.status !== "certificate" || ch) return false;
        // The holder shared the certificate: the server prepares the
        // signed attributes for it, and the agent checks they name the
        // document it showed before the card signs. A PDF the server signs
        // in the document (kind "pades") comes as the whole request: the
        // agent rebuilds the signed bytes from the PDF it showed and the
        // request's update, and refuses any change beyond the signature
        // field.
        ch = await this.call("POST", "sign/begin", { documentId, certificate: s.certificate });
        const answer = ch.kind === "pades" ? { pdfRequest: ch.payload } : { signedAttributes: ch.payload.signedAttributes };
        let resp;
        try {
          resp = await fetch(this.agent + "/v1/requests/" + encodeURIComponent(id) + "/attributes", {
            method: "POST", headers: { "Content-Type": "application/json" },
            body: JSON.stringify(answer),
          });
        } catch (e) {
          throw new CardAgentError("Lost contact with the card agent.", { cause: e });
        }
        if (!resp.ok) {
          const j = await resp.json().catch(() => ({}));
          throw new CardAgentError(j.error || "The card agent refused the signature data.", { status: resp.status });
        }
        return true;
      });
      if (!ch) throw new CardAgentError("The card agent answered without the signing certificate.");
      return await this.call("POST", "sign/finish", { challengeId: ch.challengeId, documentId, signature: result.signature });
    } finally {
      if (popup && !popup.closed) setTimeout(() => popup.close(), 1500);
    }
  }

  async #run(action, kind, answer, opts) {
    // The agent's window must open in the click that called us: a popup
    // opened after an await is blocked.
    const popup = answer === undefined && this.cardKinds.includes(kind) ? openAgentWindow() : null;
    // A browser runs one WebAuthn request at a time: a pending passkey
    // autofill gives way to any other ceremony.
    if (opts.mediation !== "conditional" && this.#conditional) this.#conditional.abort();
    try {
      const ch = await this.begin(action, kind);
      const extra = {};
      if (action === "enroll" && opts.name) extra.name = opts.name;
      if (action === "approve") {
        extra.transaction = ch.transaction;
        if (opts.confirm && !(await opts.confirm(ch.transaction))) throw new PuceError("The payment was not approved.");
      }
      const response = await this.#answer(action, kind, ch, answer, opts, popup);
      return await this.finish(action, ch, response, extra);
    } finally {
      if (popup && !popup.closed) setTimeout(() => popup.close(), 1500);
    }
  }

  async #answer(action, kind, ch, answer, opts, popup) {
    if (typeof answer === "function") return answer(ch);
    if (answer !== undefined) return answer;
    const p = ch.payload;
    if (p && typeof p === "object" && p.publicKey) {
      const { kind: _k, code: _c, name: _n, confirm: _f, ...extra } = opts;
      return ceremony(action === "enroll", p.publicKey, extra);
    }
    if (this.cardKinds.includes(kind)) {
      const req = action === "approve" ? { kind: "approve", approval: p } : { kind: "authenticate", nonce: p };
      const result = await this.agentRequest(req, popup);
      return JSON.parse(result.token);
    }
    throw new PuceError(`The ${kind} factor needs an answer from the user.`);
  }

  // agentRequest hands a request to the card agent, points its window at
  // the agent's prompt (or offers a link), and waits for the holder.
  // onStatus(j) may act on intermediate states and return true to go on.
  async agentRequest(body, popup, onStatus) {
    let resp, j;
    try {
      resp = await fetch(this.agent + "/v1/requests", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      j = await resp.json().catch(() => ({}));
    } catch (e) {
      if (popup) popup.close();
      throw new CardAgentError("The card agent is not running on this computer. Start it, then try again.", { cause: e });
    }
    if (!resp.ok) {
      if (popup) popup.close();
      throw new CardAgentError(j.error || "The card agent refused the request.", { status: resp.status });
    }
    // The prompt must be a page of the agent's own origin. The window was
    // opened as about:blank, which shares this site's origin: a
    // "javascript:" prompt from whatever answers on the agent's port would
    // run in this site's origin (HTML, "Navigating to a javascript: URL"),
    // and another site's page would ask for the PIN in the agent's place.
    const prompt = agentPage(j.prompt, this.agent);
    if (!prompt) {
      if (popup) popup.close();
      throw new CardAgentError("The card agent answered with a prompt outside its own address. Check which program runs on " + this.agent + ".");
    }
    let done = null;
    if (popup && !popup.closed) popup.location.href = prompt;
    else done = this.onAgentPrompt(prompt);
    try {
      const deadline = Date.now() + 5 * 60 * 1000;
      while (Date.now() < deadline) {
        let s;
        try {
          s = await (await fetch(this.agent + "/v1/requests/" + encodeURIComponent(j.id))).json();
        } catch (e) {
          throw new CardAgentError("Lost contact with the card agent.", { cause: e });
        }
        if (onStatus && (await onStatus(s, j.id))) continue;
        if (s.status === "done") return s.result;
        if (["failed", "cancelled", "unknown"].includes(s.status)) throw new CardAgentError(s.error || "The card operation was cancelled.");
        await sleep(400);
      }
      throw new CardAgentError("No answer from the card agent in five minutes.");
    } finally {
      if (typeof done === "function") done();
    }
  }
}

// agentPage is url resolved against the agent's origin if it is an
// http(s) page of that origin, else null.
function agentPage(url, agent) {
  try {
    const u = new URL(url, agent);
    if ((u.protocol === "http:" || u.protocol === "https:") && u.origin === new URL(agent).origin) return u.href;
  } catch (e) {
    // not a URL
  }
  return null;
}

function openAgentWindow() {
  // Blank now, during the click; pointed at the agent's prompt once the
  // agent has the request. The agent's pages send Cross-Origin-Opener-Policy
  // same-origin, so once the prompt loads this handle is cut off from it
  // (it reads as closed, HTML "cross-origin opener policies") and the
  // agent's window closes itself when it is done: the close() calls here
  // reach only a window that never left about:blank.
  try {
    return window.open("about:blank", "puce-agent", "popup,width=560,height=720");
  } catch (e) {
    return null;
  }
}

// defaultAgentLink offers the agent's prompt as a link when the browser
// blocked its window: the holder opens it, and the page waits all the same.
// The link goes once the request ends.
function defaultAgentLink(url) {
  const a = document.createElement("a");
  a.id = "puce-agent-link";
  a.target = "_blank";
  a.rel = "noopener";
  a.textContent = "Open the card agent to continue";
  a.href = url;
  document.body.appendChild(a);
  return () => a.remove();
}
