// holdfast.js — the browser half of Holdfast: a WebSocket that reconnects the way Holdfast's Swift
// clients do, a channels client that delivers every publication once and in order, and a file
// upload that resumes after any connection loss. One ES module, no dependencies, no build step;
// `holdfast serve` serves it at /holdfast.js?v=VERSION with the reconnect policy filled in.

/** The version of this module's API. (The `?v=` of the URL it is served at is a digest of its content.) */
export const VERSION = "1";

/**
 * The reconnect policy, generated from Swift's `ReconnectPolicy()` by the Holdfast server that
 * serves this file, so that browsers and Swift clients back off alike. `null` when the file was
 * not served by Holdfast: sockets then refuse to start rather than guess the numbers.
 */
export const POLICY = /* holdfast:policy */ null;

const OPEN = 1;
const MiB = 1 << 20;
const LIMITS_TIMEOUT_MS = 3000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Dispatches a CustomEvent of `type` carrying `detail` on `target`. */
function emit(target, type, detail) {
  target.dispatchEvent(new CustomEvent(type, { detail }));
}

// MARK: - The reconnect policy (mirrors HoldfastCore's ReconnectPolicy and CloseFrame)

function policy() {
  if (POLICY === null) {
    throw new Error("holdfast.js must be loaded from a Holdfast server, which embeds the reconnect policy "
      + "(POLICY is null)");
  }
  return POLICY;
}

/** Whether a connection that ended with `code` is worth another attempt (1006 covers a failed connect). */
export function isRetryable(code) {
  return policy().retriedCloseCodes.includes(code);
}

/** The first backoff ceiling after `code`: longer when the server said it is restarting or overloaded. */
export function initialDelayMs(code) {
  const { serverRestartCloseCodes, serverRestartInitialDelayMs, initialDelayMs: first } = policy();
  return serverRestartCloseCodes.includes(code) ? serverRestartInitialDelayMs : first;
}

/** The upper bound of the jittered backoff before retry `attempt` (from 0) after `code`. */
export function backoffCeilingMs(attempt, code) {
  const { multiplier, maximumDelayMs } = policy();
  const scaled = initialDelayMs(code) * multiplier ** Math.max(0, attempt);
  return Number.isFinite(scaled) && scaled < maximumDelayMs ? scaled : maximumDelayMs;
}

/** The retry hint a shutting-down server puts in its close reason (`retry in 1500 ms`), or null. */
export function retryHintMs(reason) {
  const words = wordsOf(reason);
  for (let index = 0; index + 2 < words.length; index += 1) {
    if (words[index] !== "retry" || words[index + 1] !== "in") continue;
    const milliseconds = parseInteger(words[index + 2]);
    if (milliseconds !== null && milliseconds >= 0 && index + 3 < words.length && words[index + 3].startsWith("ms")) {
      return milliseconds;
    }
  }
  return null;
}

/** How long a retry hint is honoured: raised to the policy's floor, held to its maximum delay. */
export function honouredHintMs(hint) {
  const { minimumRetryHintMs, maximumDelayMs } = policy();
  return Math.min(Math.max(hint, minimumRetryHintMs), maximumDelayMs);
}

/** The byte limit a 1009 close names (`message exceeds limit of 65536 bytes`), or null. */
export function announcedLimitFromReason(reason) {
  const words = wordsOf(reason);
  for (let index = 0; index + 1 < words.length; index += 1) {
    const value = parseInteger(words[index]);
    if (value !== null && value > 0 && words[index + 1].startsWith("byte")) return value;
  }
  return null;
}

/** The words of a reason as Swift's `split(separator: " ")` gives them: empty ones dropped. */
function wordsOf(reason) {
  return String(reason ?? "").split(" ").filter((word) => word !== "");
}

/** A decimal integer as Swift's `Int(_:)` reads it (optional sign, digits, within 64 bits), or null. */
function parseInteger(word) {
  if (!/^[+-]?[0-9]+$/.test(word)) return null;
  const value = BigInt(word);
  return value >= -(2n ** 63n) && value < 2n ** 63n ? Number(value) : null;
}

/** The wait before the next attempt: the server's hint when it gave one, else full jitter. */
function reconnectDelayMs(attempt, code, reason) {
  const hint = retryHintMs(reason);
  return hint !== null ? honouredHintMs(hint) : Math.random() * backoffCeilingMs(attempt, code);
}

// MARK: - Sizes and limits

/**
 * A message refused before it was sent: the server would only close the connection with 1009
 * for it. `size` and `limit` are in bytes (`limit` is null when a 1009 named none).
 */
export class MessageTooBigError extends Error {
  constructor(size, limit, reason = "") {
    super(limit === null
      ? `message of ${size} bytes exceeds the server's limit (it closed the connection with 1009: ${reason})`
      : `message of ${size} bytes exceeds the server's limit of ${limit} bytes (it would be closed with 1009)`);
    this.name = "MessageTooBigError";
    this.size = size;
    this.limit = limit;
  }
}

/** The bytes `data` takes on the wire: UTF-8 for a string (lone surrogates become U+FFFD). */
function byteLengthOf(data) {
  if (typeof data === "string") return utf8Length(data);
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  if (typeof Blob !== "undefined" && data instanceof Blob) return data.size;
  throw new TypeError("send takes a string, an ArrayBuffer, a typed array, a DataView or a Blob");
}

function utf8Length(text) {
  let length = 0;
  for (let index = 0; index < text.length; index += 1) {
    const unit = text.charCodeAt(index);
    if (unit < 0x80) {
      length += 1;
    } else if (unit < 0x800) {
      length += 2;
    } else if ((unit & 0xfc00) === 0xd800 && (text.charCodeAt(index + 1) & 0xfc00) === 0xdc00) {
      length += 4;
      index += 1;
    } else {
      length += 3;
    }
  }
  return length;
}

/** A copy of binary data that later changes by the caller cannot reach (strings and Blobs are immutable). */
function frozenCopy(data) {
  if (data instanceof ArrayBuffer) return data.slice(0);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  return data;
}

/** Binary data as a Uint8Array over the same bytes (no copy). */
function bytesOf(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError("expected an ArrayBuffer, a typed array or a DataView");
}

/** The smallest of the limits that are known (not null or undefined), or null. */
function smallest(...limits) {
  const known = limits.filter((limit) => limit != null);
  return known.length > 0 ? Math.min(...known) : null;
}

/** The limits document a Holdfast server serves; values of the wrong type read as absent. */
function readLimits(json) {
  const positive = (value) => (Number.isSafeInteger(value) && value > 0 ? value : null);
  return {
    maxMessageSize: positive(json?.maxMessageSize),
    maxFrameSize: positive(json?.maxFrameSize),
    mode: typeof json?.mode === "string" ? json.mode : null,
    subprotocols: Array.isArray(json?.subprotocols) ? json.subprotocols.filter((p) => typeof p === "string") : [],
  };
}

const WEBSOCKET_SCHEMES = { "ws:": "ws:", "wss:": "wss:", "http:": "ws:", "https:": "wss:" };

/**
 * `url` (absolute, or relative to the page) as the ws: or wss: URL to connect to: http(s) is
 * mapped because not every browser's WebSocket takes it, and a fragment is dropped because a
 * WebSocket refuses one. Throws a SyntaxError for any other scheme, at once rather than on connect.
 */
function webSocketURL(url) {
  const parsed = new URL(url, globalThis.location?.href);
  const scheme = WEBSOCKET_SCHEMES[parsed.protocol];
  if (scheme === undefined) throw new SyntaxError(`${parsed.href} is not a ws:, wss:, http: or https: URL`);
  parsed.protocol = scheme;
  parsed.hash = "";
  return parsed.href;
}

function defaultLimitsURL(url) {
  const parsed = new URL(url);
  return `${parsed.protocol === "wss:" ? "https" : "http"}://${parsed.host}/limits.json`;
}

// MARK: - HoldfastSocket

/**
 * A WebSocket that connects again after the endings the Swift client retries (the policy's
 * retriedCloseCodes: by default 1001, 1005, 1006, 1009 and 1011–1014; a failed connect is a
 * 1006), with its backoff and retry hints, and keeps what is sent meanwhile in a bounded outbox
 * that goes out in order on the next connection. It learns the server's message limit from
 * `/limits.json` and from 1009 closes, and refuses larger messages before sending.
 *
 * Events (CustomEvent, data in `detail`): `open` {attempt, protocol, limits}, `message` {data},
 * `close` {code, reason, wasClean} for every connection end, `reconnecting` {delayMs, code,
 * reason, attempt, hintMs}, `gaveup` {code, reason}, `limits` {limits}, and `dropped`
 * {data, error} for a queued message that a limit learned since makes too big to send.
 */
export class HoldfastSocket extends EventTarget {
  #url;
  #protocols;
  #limitsURL;
  #maxAttempts;
  #maxQueuedMessages;
  #maxQueuedBytes;
  #WebSocket;
  #ws = null;
  #attempts = 0;
  #openedAt = 0;
  /** Bumped whenever a connection attempt in progress must be abandoned. */
  #generation = 0;
  #reconnectTimer = null;
  #stopped = false;
  #pageLeft = false;
  #outbox = [];
  #queuedBytes = 0;
  #announced = null;
  #learnedLimit = null;
  #pageListeners = null;

  /**
   * Starts connecting to `url` (ws:, wss:, http: or https:, or relative to the page; http(s)
   * is connected to as ws(s)). Throws a SyntaxError for another scheme.
   * Options: `protocols` (string[]), `limitsURL` (default the URL's origin + `/limits.json`;
   * null: not fetched), `maxAttempts` (retries before giving up; default the policy's
   * maximumAttempts; null: never give up), `outboxMessages` (default 1000), `outboxBytes`
   * (default 16 MiB), `leavePages` (close on pagehide, reconnect on a back/forward-cache
   * pageshow; default true), `WebSocket` (the constructor; default globalThis.WebSocket).
   */
  constructor(url, options = {}) {
    super();
    policy();
    this.#url = webSocketURL(url);
    this.#protocols = options.protocols ?? [];
    this.#limitsURL = options.limitsURL === undefined ? defaultLimitsURL(this.#url) : options.limitsURL;
    this.#maxAttempts = (options.maxAttempts === undefined ? policy().maximumAttempts : options.maxAttempts) ?? Infinity;
    this.#maxQueuedMessages = options.outboxMessages ?? 1000;
    this.#maxQueuedBytes = options.outboxBytes ?? 16 * MiB;
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WebSocket !== "function") throw new Error("no WebSocket here: pass options.WebSocket");
    if ((options.leavePages ?? true) && typeof globalThis.addEventListener === "function") {
      const hide = () => this.#leavePage();
      const show = (event) => { if (event.persisted) this.#returnToPage(); };
      globalThis.addEventListener("pagehide", hide);
      globalThis.addEventListener("pageshow", show);
      this.#pageListeners = { hide, show };
    }
    queueMicrotask(() => this.#connect());
  }

  /** The URL connected to (ws: or wss:). */
  get url() { return this.#url; }
  /** Whether a connection is open now. */
  get connected() { return this.#ws?.readyState === OPEN; }
  /** The subprotocol the server chose on the open connection ("" when none or not connected). */
  get protocol() { return this.connected ? this.#ws.protocol : ""; }
  /** Retries since the last connection that stayed up (the policy's resetAfterMs). */
  get attempts() { return this.#attempts; }
  /** Bytes handed to the open connection and not yet sent by the browser. */
  get bufferedAmount() { return this.#ws?.bufferedAmount ?? 0; }
  /** Messages waiting in the outbox for a connection. */
  get queued() { return this.#outbox.length; }

  /**
   * The largest message this page can send without a 1009, as far as known, or null: the
   * server's message limit, its frame limit (a browser sends a message as one frame, whatever its
   * size), and any limit a 1009 named.
   */
  get maxMessageSize() {
    return smallest(this.#announced?.maxMessageSize, this.#announced?.maxFrameSize, this.#learnedLimit);
  }

  /** What is known of the server's limits ({maxMessageSize, maxFrameSize, mode, subprotocols}), or null. */
  get limits() {
    if (this.#announced === null && this.#learnedLimit === null) return null;
    return {
      maxMessageSize: smallest(this.#announced?.maxMessageSize, this.#learnedLimit),
      maxFrameSize: this.#announced?.maxFrameSize ?? null,
      mode: this.#announced?.mode ?? null,
      subprotocols: this.#announced?.subprotocols ?? [],
    };
  }

  /**
   * Sends `data` now when connected (and nothing waits before it), else queues it for the next
   * connection. Throws MessageTooBigError when it is over the known limit (nothing is queued),
   * and an Error when the outbox is full or the socket is closed. A message handed to a
   * connection that then drops is lost: a browser cannot tell whether it went out.
   */
  send(data) {
    if (this.#stopped) throw new Error("the socket is closed");
    const size = byteLengthOf(data);
    const limit = this.maxMessageSize;
    if (limit !== null && size > limit) throw new MessageTooBigError(size, limit);
    if (this.connected && this.#outbox.length === 0) {
      this.#ws.send(data);
      return;
    }
    if (this.#outbox.length >= this.#maxQueuedMessages || this.#queuedBytes + size > this.#maxQueuedBytes) {
      throw new Error(`the outbox of messages waiting for a connection is full (at most ${this.#maxQueuedMessages} `
        + `messages, ${this.#maxQueuedBytes} bytes)`);
    }
    this.#outbox.push({ data: frozenCopy(data), size });
    this.#queuedBytes += size;
  }

  /** Closes for good with `code` (1000 or 3000–4999) and `reason`: no reconnect, the outbox is dropped. */
  close(code = 1000, reason = "") {
    if (code !== 1000 && !(code >= 3000 && code <= 4999)) throw new RangeError(`close code ${code} is not 1000 or 3000–4999`);
    if (utf8Length(reason) > 123) throw new RangeError("a close reason is at most 123 bytes of UTF-8");
    if (this.#stopped) return;
    const ws = this.#ws;
    this.#stop();
    ws?.close(code, reason);
  }

  async #connect() {
    if (this.#stopped || this.#pageLeft) return;
    const generation = ++this.#generation;
    const announced = this.#limitsURL === null ? null : await this.#fetchLimits();
    // Closed, hidden or superseded while the limits were fetched: this attempt is over.
    if (generation !== this.#generation) return;
    if (announced !== null && JSON.stringify(announced) !== JSON.stringify(this.#announced)) {
      this.#announced = announced;
      emit(this, "limits", { limits: this.limits });
      if (this.#stopped) return; // a `limits` listener closed the socket
    }
    let ws;
    try {
      ws = new this.#WebSocket(this.#url, this.#protocols);
    } catch (error) {
      this.#stop();
      emit(this, "gaveup", { code: null, reason: String(error?.message ?? error) });
      return;
    }
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    // Events of a connection given up (closed, or left with the page) are not passed on; its
    // close event is, after close(), as the last `close`.
    const current = () => this.#ws === ws && !this.#stopped;
    ws.onopen = () => { if (current()) this.#opened(ws); };
    ws.onmessage = (event) => { if (current()) emit(this, "message", { data: event.data }); };
    ws.onclose = (event) => { if (this.#ws === ws) this.#closed(event.code, event.reason, event.wasClean); };
  }

  /**
   * The limits the server announces, or null when they cannot be read (unreachable, not JSON,
   * timed out): then the last known ones stay, as they only spare the server a refusal.
   */
  async #fetchLimits() {
    if (typeof fetch !== "function") return null;
    try {
      const response = await fetch(this.#limitsURL, { cache: "no-store", signal: AbortSignal.timeout(LIMITS_TIMEOUT_MS) });
      return response.ok ? readLimits(await response.json()) : null;
    } catch {
      return null;
    }
  }

  #opened(ws) {
    this.#openedAt = Date.now();
    // What waited goes out first, in order, before anything an `open` listener sends.
    while (this.#outbox.length > 0 && ws.readyState === OPEN) {
      const { data, size } = this.#outbox.shift();
      this.#queuedBytes -= size;
      const limit = this.maxMessageSize;
      if (limit !== null && size > limit) {
        emit(this, "dropped", { data, error: new MessageTooBigError(size, limit) });
      } else {
        ws.send(data);
      }
    }
    emit(this, "open", { attempt: this.#attempts, protocol: ws.protocol, limits: this.limits });
  }

  #closed(code, reason, wasClean) {
    this.#ws = null;
    const upMs = this.#openedAt > 0 ? Date.now() - this.#openedAt : 0;
    this.#openedAt = 0;
    if (code === 1009) this.#learnLimit(announcedLimitFromReason(reason));
    emit(this, "close", { code, reason, wasClean });
    if (this.#stopped) return; // the close() of a listener, or the close event after close()
    if (upMs >= policy().resetAfterMs) this.#attempts = 0;
    if (!isRetryable(code) || this.#attempts >= this.#maxAttempts) {
      this.#stop();
      emit(this, "gaveup", { code, reason });
      return;
    }
    const hintMs = retryHintMs(reason);
    const delayMs = reconnectDelayMs(this.#attempts, code, reason);
    this.#attempts += 1;
    // Scheduled before the event, so that a listener calling close() cancels it.
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      this.#connect();
    }, delayMs);
    emit(this, "reconnecting", { delayMs, code, reason, attempt: this.#attempts, hintMs });
  }

  #learnLimit(limit) {
    if (limit === null || (this.#learnedLimit !== null && this.#learnedLimit <= limit)) return;
    this.#learnedLimit = limit;
    emit(this, "limits", { limits: this.limits });
  }

  #cancelAttempt() {
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    this.#generation += 1;
  }

  #stop() {
    this.#stopped = true;
    this.#cancelAttempt();
    this.#outbox = [];
    this.#queuedBytes = 0;
    if (this.#pageListeners !== null) {
      globalThis.removeEventListener("pagehide", this.#pageListeners.hide);
      globalThis.removeEventListener("pageshow", this.#pageListeners.show);
      this.#pageListeners = null;
    }
  }

  // Leaving pages. An open WebSocket keeps a page out of the back/forward cache; closing it with
  // the policy's page-left code lets the page in and tells the server this was a departure, not
  // a failure. The outbox is kept for when the page comes back.

  #leavePage() {
    if (this.#stopped) return;
    this.#pageLeft = true;
    this.#cancelAttempt();
    const ws = this.#ws;
    if (ws === null) return;
    // Detached now: its own close event may come only after the page is restored, or never.
    this.#ws = null;
    this.#openedAt = 0;
    const { pageLeftCode, pageLeftReason } = policy();
    ws.close(pageLeftCode, pageLeftReason);
    emit(this, "close", { code: pageLeftCode, reason: pageLeftReason, wasClean: true });
  }

  #returnToPage() {
    if (this.#stopped || !this.#pageLeft) return;
    this.#pageLeft = false;
    this.#attempts = 0;
    this.#connect();
  }
}

// MARK: - Channels (docs/channels-protocol.md)

const CHANNELS_SUBPROTOCOL = "holdfast.channels.v1";
const RETRYABLE_CHANNEL_ERRORS = new Set(["store-unavailable", "shutting-down"]);

/** A request the channels server refused, or why the client stopped: `code` (e.g. "invalid-channel") and `reason`. */
export class ChannelError extends Error {
  constructor(code, reason) {
    super(`${code}: ${reason}`);
    this.name = "ChannelError";
    this.code = code;
    this.reason = reason;
  }
}

function subscribeMessage(channel, since) {
  return JSON.stringify(since === null
    ? { channel, type: "subscribe" }
    : { channel, since: { epoch: since.epoch, offset: since.offset }, type: "subscribe" });
}

function unsubscribeMessage(channel) {
  return JSON.stringify({ channel, type: "unsubscribe" });
}

/** A publish: the JSON header, a line feed, then the payload's raw bytes. */
function publishMessage(channel, id, kind, payload) {
  const header = encoder.encode(JSON.stringify({ channel, id, kind, type: "publish" }));
  const message = new Uint8Array(header.length + 1 + payload.length);
  message.set(header);
  message[header.length] = 0x0a;
  message.set(payload, header.length + 1);
  return message;
}

/** A server message as {header, payload}: payload is null for a text message; null when not a protocol message. */
function decodeChannelsMessage(data) {
  try {
    if (typeof data === "string") return { header: JSON.parse(data), payload: null };
    const bytes = new Uint8Array(data);
    const end = bytes.indexOf(0x0a);
    if (end < 0) return null;
    return { header: JSON.parse(decoder.decode(bytes.subarray(0, end))), payload: bytes.subarray(end + 1) };
  } catch {
    return null;
  }
}

function randomHex(byteCount) {
  return Sha256.hex(crypto.getRandomValues(new Uint8Array(byteCount)));
}

/**
 * One subscribed channel, made by ChannelClient.subscribe. Events: `subscribed` {epoch, offset,
 * from, recovered}, `publication` {channel, epoch, offset, data, kind} (data a string for kind
 * "text", a Uint8Array for "binary"), `gap` {recovered: false, epoch, from, lastDelivered} when
 * publications were lost for good, `error` {code, reason} when the subscription ended on a refusal
 * or the connection gave up.
 */
export class Subscription extends EventTarget {
  #channel;
  #controls;

  constructor(channel, controls) {
    super();
    this.#channel = channel;
    this.#controls = controls;
  }

  /** The channel subscribed to. */
  get channel() { return this.#channel; }
  /** The last position delivered ({epoch, offset}), or the starting one given, or null before any. */
  get position() { return this.#controls.position(); }
  /** Stops the subscription; publications of it that still arrive are dropped. */
  unsubscribe() { this.#controls.unsubscribe(); }
}

/**
 * A client of Holdfast channels over a HoldfastSocket offering `holdfast.channels.v1`. Every
 * subscription delivers each publication once and in order across reconnects (it resubscribes
 * from the last position delivered, and says so with `gap` where history is gone); every publish
 * is sent again with the same id until the server acknowledges it, so it is stored once.
 *
 * Events: `error` {code, reason, channel} for a server error that answers no request of the
 * client, or when the server did not agree on the subprotocol (the client then stops).
 * Connection events are on `client.socket`.
 */
export class ChannelClient extends EventTarget {
  #socket;
  /** channel → {subscription, cursor, awaitingAnswer, refusedForNow} */
  #channels = new Map();
  /** publish id → {id, message, size, resolve, reject, refusedForNow}, oldest first. */
  #pending = new Map();
  #pendingBytes = 0;
  #maxPending;
  #maxPendingBytes;
  #retryDelayMs;
  #retryTimer = null;
  #idPrefix = randomHex(8);
  #publishCount = 0;
  #connected = false;
  #stopped = null;

  /**
   * Connects to the channels endpoint at `url`. Options: those of HoldfastSocket (its
   * `outboxMessages`/`outboxBytes` also bound the unacknowledged publishes), and `retryDelayMs`
   * (the pause before a request refused for now is sent again; default 1000).
   */
  constructor(url, options = {}) {
    super();
    const protocols = [CHANNELS_SUBPROTOCOL, ...(options.protocols ?? []).filter((p) => p !== CHANNELS_SUBPROTOCOL)];
    this.#maxPending = options.outboxMessages ?? 1000;
    this.#maxPendingBytes = options.outboxBytes ?? 16 * MiB;
    this.#retryDelayMs = options.retryDelayMs ?? 1000;
    this.#socket = new HoldfastSocket(url, { ...options, protocols });
    this.#socket.addEventListener("open", (event) => this.#opened(event.detail.protocol));
    this.#socket.addEventListener("message", (event) => this.#received(event.detail.data));
    this.#socket.addEventListener("close", (event) => this.#disconnected(event.detail));
    this.#socket.addEventListener("gaveup", ({ detail }) => {
      const why = detail.reason ? `${detail.code}: ${detail.reason}` : `${detail.code}`;
      this.#stop(new ChannelError("connection-ended", `the connection ended and will not be retried (${why})`), true);
    });
  }

  /** The connection the client runs over: listen there for open, close, reconnecting and gaveup. */
  get socket() { return this.#socket; }

  /** Publishes waiting for their acknowledgement. */
  get pendingPublishes() { return this.#pending.size; }

  /**
   * Subscribes to `channel`, after `since` ({epoch, offset}) when given, else from the
   * publications that follow. Throws when already subscribed to it or closed.
   */
  subscribe(channel, { since = null } = {}) {
    if (this.#stopped !== null) throw this.#stopped;
    if (this.#channels.has(channel)) throw new Error(`already subscribed to ${channel}`);
    const record = {
      subscription: null,
      cursor: since === null ? null : { epoch: since.epoch, offset: since.offset },
      awaitingAnswer: this.#connected,
      refusedForNow: false,
    };
    record.subscription = new Subscription(channel, {
      position: () => (record.cursor === null ? null : { ...record.cursor }),
      unsubscribe: () => this.#unsubscribe(channel, record),
    });
    this.#channels.set(channel, record);
    if (this.#connected) this.#send(subscribeMessage(channel, record.cursor));
    return record.subscription;
  }

  /**
   * Publishes `data` to `channel`: a string as kind "text", an ArrayBuffer, typed array or
   * DataView as kind "binary" (read a Blob first). Resolves with {channel, id, epoch, offset,
   * duplicate} once stored. Until then it is sent again with the same `id` (default: this
   * client's random prefix and a counter) after every reconnect and after a store-unavailable or
   * shutting-down refusal. Rejects with MessageTooBigError (never sent), ChannelError (refused),
   * a TypeError for other data, or an Error when the outbox is full.
   */
  async publish(channel, data, { id } = {}) {
    if (this.#stopped !== null) throw this.#stopped;
    const kind = typeof data === "string" ? "text" : "binary";
    const publishID = id ?? `${this.#idPrefix}-${this.#publishCount + 1}`;
    if (this.#pending.has(publishID)) throw new Error(`a publish with id ${publishID} is waiting already`);
    const message = publishMessage(channel, publishID, kind, kind === "text" ? encoder.encode(data) : bytesOf(data));
    const size = message.length;
    const limit = this.#socket.maxMessageSize;
    if (limit !== null && size > limit) throw new MessageTooBigError(size, limit);
    if (this.#pending.size >= this.#maxPending || this.#pendingBytes + size > this.#maxPendingBytes) {
      throw new Error(`the outbox of unacknowledged publishes is full (at most ${this.#maxPending} `
        + `publishes, ${this.#maxPendingBytes} bytes)`);
    }
    if (id === undefined) this.#publishCount += 1;
    // Queued and sent before publish returns, so that publishes go out in the order made.
    return new Promise((resolve, reject) => {
      this.#pending.set(publishID, { id: publishID, message, size, resolve, reject, refusedForNow: false });
      this.#pendingBytes += size;
      this.#send(message);
    });
  }

  /** Closes the connection for good; waiting publishes reject, subscriptions end. */
  close() {
    this.#socket.close();
    this.#stop(new ChannelError("closed", "the channel client is closed"), false);
  }

  #send(message) {
    if (this.#connected && this.#socket.connected) this.#socket.send(message);
  }

  #opened(protocol) {
    if (protocol !== CHANNELS_SUBPROTOCOL) {
      const reason = `the server did not agree on ${CHANNELS_SUBPROTOCOL} (it chose ${protocol || "none"}): `
        + "not a Holdfast channels endpoint";
      emit(this, "error", { code: "subprotocol-not-agreed", reason, channel: null });
      this.#socket.close(1000, `${CHANNELS_SUBPROTOCOL} not agreed`);
      this.#stop(new ChannelError("subprotocol-not-agreed", reason), true);
      return;
    }
    this.#connected = true;
    this.#resend({ onlyRefused: false });
  }

  /**
   * Sends every subscription again from where it stands, then every unacknowledged publish in
   * order (on a new connection), or only those the server refused for now (after the pause).
   */
  #resend({ onlyRefused }) {
    for (const [channel, record] of this.#channels) {
      if (onlyRefused && !record.refusedForNow) continue;
      record.refusedForNow = false;
      record.awaitingAnswer = true;
      this.#send(subscribeMessage(channel, record.cursor));
    }
    const limit = this.#socket.maxMessageSize;
    for (const pending of [...this.#pending.values()]) {
      if (onlyRefused && !pending.refusedForNow) continue;
      if (limit !== null && pending.size > limit) {
        this.#settle(pending, new MessageTooBigError(pending.size, limit));
        continue;
      }
      pending.refusedForNow = false;
      this.#send(pending.message);
    }
  }

  #disconnected({ code, reason }) {
    this.#connected = false;
    for (const record of this.#channels.values()) record.awaitingAnswer = false;
    // A 1009 that names no limit: the largest waiting publish is the likeliest cause, and would
    // close every connection it is sent on.
    if (code !== 1009 || announcedLimitFromReason(reason) !== null || this.#pending.size === 0) return;
    const largest = [...this.#pending.values()].reduce((a, b) => (b.size > a.size ? b : a));
    this.#settle(largest, new MessageTooBigError(largest.size, null, reason));
  }

  #received(data) {
    const decoded = decodeChannelsMessage(data);
    if (decoded === null || typeof decoded.header?.type !== "string") return;
    const { header, payload } = decoded;
    switch (header.type) {
      case "subscribed": return this.#answered(header);
      case "publication": return this.#publication(header, payload);
      case "ack": return this.#acknowledged(header);
      case "error": return this.#refused(header);
      default: return undefined; // "unsubscribed" changes nothing; unknown types are ignored.
    }
  }

  #answered({ channel, epoch, offset, from, recovered }) {
    const record = this.#channels.get(channel);
    if (record === undefined) return;
    record.awaitingAnswer = false;
    const lastDelivered = record.cursor;
    // Decided by what was delivered, not by `recovered`: the server judged the position sent,
    // and publications may have been delivered since (then `recovered: false` lost nothing).
    const before = { epoch, offset: from > 0 ? from - 1 : 0 };
    const continues = lastDelivered !== null && lastDelivered.epoch === epoch && before.offset <= lastDelivered.offset;
    if (!continues) record.cursor = before;
    emit(record.subscription, "subscribed", { epoch, offset, from, recovered: recovered ?? null });
    if (lastDelivered !== null && !continues) {
      emit(record.subscription, "gap", { recovered: false, epoch, from, lastDelivered });
    }
  }

  #publication({ channel, epoch, offset, kind }, payload) {
    const record = this.#channels.get(channel);
    // A fresh subscription places nothing before its answer: what arrives then is left over.
    if (record === undefined || record.cursor === null || payload === null) return;
    const cursor = record.cursor;
    if (epoch === cursor.epoch) {
      if (offset <= cursor.offset) return; // a repeat: a replay overlapping what was delivered
      if (offset === cursor.offset + 1) {
        record.cursor = { epoch, offset };
        const data = kind === "text" ? decoder.decode(payload) : payload;
        emit(record.subscription, "publication", { channel, epoch, offset, data, kind });
        return;
      }
    }
    // Offsets skipped, or another epoch, without an answer saying so: subscribe again from the
    // last position delivered (unless a subscribe is on its way; its answer settles it).
    if (record.awaitingAnswer) return;
    record.awaitingAnswer = true;
    this.#send(unsubscribeMessage(channel));
    this.#send(subscribeMessage(channel, cursor));
  }

  #acknowledged({ channel, id, epoch, offset, duplicate }) {
    const pending = this.#pending.get(id);
    // An id no longer waiting: the ack of a copy sent on an earlier connection.
    if (pending !== undefined) this.#settle(pending, null, { channel, id, epoch, offset, duplicate: duplicate === true });
  }

  #refused({ code, reason, channel, id }) {
    if (id != null) {
      const pending = this.#pending.get(id);
      if (pending === undefined) return;
      if (RETRYABLE_CHANNEL_ERRORS.has(code)) {
        pending.refusedForNow = true;
        this.#retryLater();
      } else {
        this.#settle(pending, new ChannelError(code, reason));
      }
      return;
    }
    const record = channel == null ? undefined : this.#channels.get(channel);
    if (record !== undefined && code === "not-subscribed") return; // an unsubscribe crossed the server's end
    if (record === undefined || !record.awaitingAnswer) {
      emit(this, "error", { code, reason, channel: channel ?? null });
    } else if (RETRYABLE_CHANNEL_ERRORS.has(code)) {
      record.awaitingAnswer = false;
      record.refusedForNow = true;
      this.#retryLater();
    } else {
      this.#channels.delete(channel);
      emit(record.subscription, "error", { code, reason });
    }
  }

  #retryLater() {
    if (this.#retryTimer !== null) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#connected) this.#resend({ onlyRefused: true }); // else the next connection sends all
    }, this.#retryDelayMs);
  }

  #unsubscribe(channel, record) {
    if (this.#channels.get(channel) !== record) return;
    this.#channels.delete(channel);
    this.#send(unsubscribeMessage(channel));
  }

  #settle(pending, error, ack) {
    this.#pending.delete(pending.id);
    this.#pendingBytes -= pending.size;
    if (error === null) pending.resolve(ack); else pending.reject(error);
  }

  #stop(error, tellSubscriptions) {
    if (this.#stopped !== null) return;
    this.#stopped = error;
    this.#connected = false;
    clearTimeout(this.#retryTimer);
    for (const pending of [...this.#pending.values()]) this.#settle(pending, error);
    const records = [...this.#channels.values()];
    this.#channels.clear();
    if (!tellSubscriptions) return;
    for (const { subscription } of records) {
      emit(subscription, "error", { code: error.code, reason: error.reason });
    }
  }
}

// MARK: - SHA-256

const SHA256_K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const SHA256_INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/** Runs the compression function over the 64-byte blocks of `bytes[start..<end]`, in place on `state`. */
function sha256Blocks(state, w, bytes, start, end) {
  let h0 = state[0], h1 = state[1], h2 = state[2], h3 = state[3];
  let h4 = state[4], h5 = state[5], h6 = state[6], h7 = state[7];
  for (let p = start; p < end; p += 64) {
    for (let i = 0; i < 16; i += 1) {
      const j = p + i * 4;
      w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
    }
    for (let i = 16; i < 64; i += 1) {
      const x = w[i - 15], y = w[i - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let i = 0; i < 64; i += 1) {
      const t1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7)))
        + (g ^ (e & (f ^ g))) + SHA256_K[i] + w[i]) | 0;
      const t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10)))
        + ((a & b) | (c & (a | b)))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0;
      d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
  }
  state[0] = h0; state[1] = h1; state[2] = h2; state[3] = h3;
  state[4] = h4; state[5] = h5; state[6] = h6; state[7] = h7;
}

/**
 * Incremental SHA-256 in plain JavaScript. WebCrypto's digest is one-shot and needs the whole
 * input in memory (and a secure context); this keeps 32 bytes of state and a partial block, so
 * a file of any size is hashed slice by slice.
 */
export class Sha256 {
  #state = new Int32Array(SHA256_INITIAL);
  #schedule = new Int32Array(64);
  #block = new Uint8Array(64);
  #blockLength = 0;
  #length = 0;

  /** Adds `bytes` (a Uint8Array, another typed array, a DataView or an ArrayBuffer); returns this. */
  update(bytes) {
    const input = bytesOf(bytes);
    const end = input.length;
    let position = 0;
    this.#length += end;
    if (this.#blockLength > 0) {
      position = Math.min(64 - this.#blockLength, end);
      this.#block.set(input.subarray(0, position), this.#blockLength);
      this.#blockLength += position;
      if (this.#blockLength < 64) return this;
      sha256Blocks(this.#state, this.#schedule, this.#block, 0, 64);
      this.#blockLength = 0;
    }
    // Whole blocks are read from the input where they lie; only the tail is copied.
    const whole = end - ((end - position) % 64);
    if (whole > position) sha256Blocks(this.#state, this.#schedule, input, position, whole);
    if (whole < end) {
      this.#block.set(input.subarray(whole), 0);
      this.#blockLength = end - whole;
    }
    return this;
  }

  /** The digest of everything added so far (32 bytes); more may be added afterwards. */
  digest() {
    const state = new Int32Array(this.#state);
    const tail = new Uint8Array(this.#blockLength < 56 ? 64 : 128);
    tail.set(this.#block.subarray(0, this.#blockLength));
    tail[this.#blockLength] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(this.#length / 0x20000000));
    view.setUint32(tail.length - 4, (this.#length * 8) >>> 0);
    sha256Blocks(state, this.#schedule, tail, 0, tail.length);
    const digest = new Uint8Array(32);
    const out = new DataView(digest.buffer);
    for (let i = 0; i < 8; i += 1) out.setInt32(i * 4, state[i]);
    return digest;
  }

  /** `bytes` in lowercase hexadecimal. */
  static hex(bytes) {
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }
}

// MARK: - Transfer messages (docs/transfer-protocol.md)

const TRANSFER_KIND = { offer: 0x01, chunk: 0x02, finish: 0x03, resume: 0x11, acknowledge: 0x12, complete: 0x13, refuse: 0x14 };
/** Marker, version, kind and the 16-byte id. */
const TRANSFER_HEADER_SIZE = 19;
const CHUNK_HEADER_SIZE = TRANSFER_HEADER_SIZE + 8;
const REFUSAL_BUSY = 0x0b;
const REFUSAL_WORDS = {
  0x01: "transfer too large", 0x02: "too many open transfers", 0x03: "store full", 0x04: "invalid name",
  0x05: "digest mismatch", 0x06: "unknown transfer", 0x07: "conflicting offer", 0x08: "store failed",
  0x09: "chunk out of range", 0x0a: "name taken", 0x0b: "busy",
};

function transferMessage(kind, id, bodyLength) {
  const message = new Uint8Array(TRANSFER_HEADER_SIZE + bodyLength);
  message[0] = 0x48;
  message[1] = 0x01;
  message[2] = kind;
  message.set(id, 3);
  return message;
}

function writeUint64(bytes, at, value) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(at, Math.floor(value / 2 ** 32));
  view.setUint32(at + 4, value >>> 0);
}

function readUint64(bytes, at) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4);
}

/** The id of a transfer whose content is known: it is the same for the same file, so a reload resumes. */
function transferID(nameBytes, size, digest) {
  const tag = encoder.encode("holdfast-transfer");
  const input = new Uint8Array(tag.length + 1 + 2 + nameBytes.length + 8 + 32);
  input.set(tag);
  let at = tag.length + 1;
  new DataView(input.buffer).setUint16(at, nameBytes.length);
  input.set(nameBytes, at + 2);
  at += 2 + nameBytes.length;
  writeUint64(input, at, size);
  input.set(digest, at + 8);
  return new Sha256().update(input).digest().subarray(0, 16);
}

function offerMessage(id, size, digest, nameBytes) {
  const message = transferMessage(TRANSFER_KIND.offer, id, 8 + 1 + 32 + 2 + nameBytes.length);
  writeUint64(message, 19, size);
  message[27] = 0x01; // a digest follows
  message.set(digest, 28);
  new DataView(message.buffer).setUint16(60, nameBytes.length);
  message.set(nameBytes, 62);
  return message;
}

function finishMessage(id, digest) {
  const message = transferMessage(TRANSFER_KIND.finish, id, 32);
  message.set(digest, TRANSFER_HEADER_SIZE);
  return message;
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

function errorWith(message, fields) {
  return Object.assign(new Error(message), fields);
}

const delay = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// MARK: - upload

const HASH_SLICE = MiB;
const BUFFER_POLL_MS = 4;
const RATE_WINDOW_MS = 5000;

/**
 * Uploads `file` (a File, or a Blob with `options.name`) to the transfer endpoint at `url` and
 * resolves with {name, size, digest (hex), resentBytes, connections, chunkSize} once the receiver
 * confirmed the SHA-256. It hashes the file first (to derive the id, so that the same file
 * resumes where the receiver stopped, even after a reload), then sends it in chunks that fit the
 * server's limit over a HoldfastSocket, resuming from the receiver's offset on every connection.
 *
 * At most one window (`options.window`, default 4 MiB) is sent and unacknowledged, and less
 * than two chunks wait in the WebSocket's buffer, so that a close on pagehide goes out behind
 * them promptly. Chunks are Blobs of a header and a `file.slice`, read by the browser itself;
 * script reads the file only to hash it, into one reused 1 MiB buffer. Never the whole file.
 *
 * Options: `name`, `chunkSize` (default 1 MiB, lowered to the limit − 27 and after a 1009),
 * `window`, `onProgress` ({phase: "hashing", hashed, size} then {phase: "sending", acknowledged,
 * size, bytesPerSecond, resentBytes, chunkSize, connections}, and {phase: "reconnecting", delayMs,
 * code, reason, attempt, hintMs} while the connection is down), `signal` (AbortSignal),
 * `busyRetryDelayMs` (default 1000) and `maxBusyRetries` (default 60) for a receiver still held
 * by an earlier connection, and HoldfastSocket's `limitsURL`, `maxAttempts`, `leavePages`,
 * `WebSocket`. Rejects with an Error carrying `code` (1–255) and `reason` when the receiver
 * refuses, or `closeCode` and `closeReason` when the connection gave up.
 */
export async function upload(url, file, options = {}) {
  webSocketURL(url); // a bad URL throws now, not after hashing the file
  if (!(file instanceof Blob)) throw new TypeError("upload takes a File, or a Blob with options.name");
  const name = options.name ?? file.name;
  if (typeof name !== "string" || name === "") throw new TypeError("upload needs a name: a File's, or options.name");
  const nameBytes = encoder.encode(name);
  if (nameBytes.length > 0xffff) throw new RangeError("the file name is too long");
  options.signal?.throwIfAborted();
  const digest = await hashBlob(file, options.onProgress, options.signal);
  options.signal?.throwIfAborted();
  return new TransferUpload(url, file, name, nameBytes, digest, options).run();
}

/** SHA-256 of a Blob, read one slice ahead of the one being hashed. */
async function hashBlob(blob, onProgress, signal) {
  const hash = new Sha256();
  let hashed = 0;
  let reported = 0;
  onProgress?.({ phase: "hashing", hashed: 0, size: blob.size });
  for await (const bytes of readInPlace(blob)) {
    signal?.throwIfAborted();
    hash.update(bytes);
    hashed += bytes.byteLength;
    if (hashed - reported >= HASH_SLICE || hashed === blob.size) {
      reported = hashed;
      onProgress?.({ phase: "hashing", hashed, size: blob.size });
    }
  }
  if (hashed !== blob.size) throw new Error("the file changed while it was being hashed");
  return hash.digest();
}

/**
 * The bytes of `blob` in order, each view valid until the next is asked for. Where the browser
 * reads a Blob as a byte stream, every read lands in the same 1 MiB buffer, so hashing a file of
 * any size leaves nothing for the garbage collector; elsewhere it reads 1 MiB slices.
 */
async function* readInPlace(blob) {
  let reader = null;
  try {
    reader = blob.stream().getReader({ mode: "byob" });
  } catch {
    for (let offset = 0; offset < blob.size; offset += HASH_SLICE) {
      yield new Uint8Array(await blob.slice(offset, offset + HASH_SLICE).arrayBuffer());
    }
    return;
  }
  let buffer = new ArrayBuffer(HASH_SLICE);
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read(new Uint8Array(buffer));
      if (done) break;
      yield value;
      buffer = value.buffer; // the read took the buffer and gives it back with the bytes
    }
    finished = true;
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
  }
}

/** One upload in progress: the sender's bookkeeping (Swift's TransferSendState) and its connection. */
class TransferUpload {
  #url;
  #file;
  #name;
  #size;
  #digest;
  #id;
  #offer;
  #options;
  #socket = null;
  #preferredChunkSize;
  #window;
  #chunkSize;
  /** The chunk size a 1009 lowered it to; it stays lowered on later connections. */
  #chunkSizeCap = Infinity;
  /** "disconnected", "offered", "sending", "finished" or "complete". */
  #phase = "disconnected";
  #next = 0;
  #acknowledged = 0;
  /**
   * The end of the furthest chunk handed to a connection: what the receiver may acknowledge, and
   * what a chunk sent again below it counts as resent.
   */
  #furthestSent = 0;
  #resentBytes = 0;
  #connections = 0;
  #busyRefusals = 0;
  /** Bumped on every open, close and resume: a busy refusal's pause ends in no offer after it. */
  #round = 0;
  #pumping = false;
  #rateSamples = [];
  #settle = null;

  constructor(url, file, name, nameBytes, digest, options) {
    this.#url = url;
    this.#file = file;
    this.#name = name;
    this.#size = file.size;
    this.#digest = digest;
    this.#id = transferID(nameBytes, file.size, digest);
    this.#offer = offerMessage(this.#id, file.size, digest, nameBytes);
    this.#options = options;
    this.#preferredChunkSize = Math.max(1, options.chunkSize ?? MiB);
    this.#window = options.window ?? 4 * MiB;
    this.#chunkSize = this.#preferredChunkSize;
  }

  run() {
    return new Promise((resolve, reject) => {
      const { signal } = this.#options;
      const abort = () => this.#finish(signal.reason ?? new Error("upload cancelled"));
      signal?.addEventListener("abort", abort);
      this.#settle = (error, result) => {
        signal?.removeEventListener("abort", abort);
        if (error === null) resolve(result); else reject(error);
      };
      const { limitsURL, maxAttempts, leavePages, WebSocket } = this.#options;
      this.#socket = new HoldfastSocket(this.#url, { limitsURL, maxAttempts, leavePages, WebSocket });
      this.#socket.addEventListener("open", () => this.#opened());
      this.#socket.addEventListener("message", (event) => this.#received(event.detail.data));
      this.#socket.addEventListener("close", (event) => this.#closed(event.detail));
      this.#socket.addEventListener("reconnecting", ({ detail }) => {
        this.#options.onProgress?.({ phase: "reconnecting", ...detail });
      });
      // closeCode, not code: `code` on an upload's error is the receiver's refusal code.
      this.#socket.addEventListener("gaveup", ({ detail: { code, reason } }) => {
        this.#finish(errorWith(`the connection ended and will not be retried (${code}${reason ? `: ${reason}` : ""})`,
          { closeCode: code, closeReason: reason }));
      });
    });
  }

  #finish(error, result) {
    if (this.#settle === null) return;
    const settle = this.#settle;
    this.#settle = null;
    this.#socket.close(1000, error === null ? "upload complete" : "upload stopped");
    settle(error, result);
  }

  /** Sends on the open connection only: the socket's outbox would replay it on the next one. */
  #send(message) {
    if (!this.#socket.connected) return false;
    this.#socket.send(message);
    return true;
  }

  #opened() {
    this.#connections += 1;
    this.#round += 1;
    const limit = this.#socket.maxMessageSize;
    if (limit !== null && limit <= CHUNK_HEADER_SIZE) {
      this.#finish(this.#limitTooSmall(limit));
      return;
    }
    const capacity = limit === null ? Infinity : limit - CHUNK_HEADER_SIZE;
    this.#chunkSize = Math.min(this.#preferredChunkSize, this.#chunkSizeCap, capacity);
    this.#phase = "offered";
    try {
      this.#send(this.#offer); // throws MessageTooBigError for a name that makes the offer too big
    } catch (error) {
      this.#finish(error);
    }
  }

  #closed({ code, reason }) {
    if (this.#phase === "complete") return;
    this.#phase = "disconnected";
    this.#round += 1;
    if (code === 1009) this.#lowerChunkSize(announcedLimitFromReason(reason));
  }

  /** After a 1009: fits the chunk size to the limit the reason names, else halves it; it stays lowered. */
  #lowerChunkSize(namedLimit) {
    if (namedLimit !== null && namedLimit <= CHUNK_HEADER_SIZE) {
      this.#finish(this.#limitTooSmall(namedLimit));
      return;
    }
    const capacity = namedLimit === null ? Infinity : namedLimit - CHUNK_HEADER_SIZE;
    // A limit that would not have refused the chunk: halve anyway, so that the upload makes progress.
    const lowered = capacity < this.#chunkSize ? capacity : Math.floor(this.#chunkSize / 2);
    if (lowered < 1) {
      this.#finish(new Error("the server refuses even 1-byte chunks as too big (close 1009)"));
      return;
    }
    this.#chunkSize = lowered;
    this.#chunkSizeCap = lowered;
  }

  #received(data) {
    if (!(data instanceof ArrayBuffer) || this.#settle === null) return;
    const bytes = new Uint8Array(data);
    if (bytes.length < TRANSFER_HEADER_SIZE || bytes[0] !== 0x48 || bytes[1] !== 0x01
      || !sameBytes(bytes.subarray(3, TRANSFER_HEADER_SIZE), this.#id)) return;
    const kind = bytes[2];
    const body = bytes.length - TRANSFER_HEADER_SIZE;
    if ((kind === TRANSFER_KIND.resume || kind === TRANSFER_KIND.acknowledge) && body === 8) {
      this.#positioned(kind, readUint64(bytes, TRANSFER_HEADER_SIZE));
    } else if (kind === TRANSFER_KIND.complete && body === 32) {
      this.#completed(bytes.subarray(TRANSFER_HEADER_SIZE));
    } else if (kind === TRANSFER_KIND.refuse && body >= 1) {
      this.#refused(bytes[TRANSFER_HEADER_SIZE], decoder.decode(bytes.subarray(TRANSFER_HEADER_SIZE + 1)));
    } else if (kind === TRANSFER_KIND.offer || kind === TRANSFER_KIND.chunk || kind === TRANSFER_KIND.finish) {
      this.#finish(new Error("the peer sent back an offer, chunk or finish, which only a sender sends: "
        + "it is not a transfer receiver (an echo server?)"));
    }
  }

  /** A resume (send from `offset`, the bytes the receiver holds) or an acknowledgement. */
  #positioned(kind, offset) {
    if (kind === TRANSFER_KIND.resume) {
      if (this.#phase === "disconnected" || this.#phase === "complete") return;
      if (offset > this.#size) {
        this.#finish(new Error(`the receiver claims ${offset} bytes of a ${this.#size}-byte transfer`));
        return;
      }
      this.#busyRefusals = 0;
      this.#round += 1;
      this.#acknowledged = offset;
      this.#next = offset;
      this.#phase = "sending";
    } else {
      if (offset > this.#furthestSent) {
        this.#finish(new Error(`the receiver acknowledged ${offset} bytes, but only ${this.#furthestSent} were sent`));
        return;
      }
      this.#acknowledged = Math.max(this.#acknowledged, offset);
    }
    this.#reportProgress();
    this.#pump();
  }

  #completed(digest) {
    if (!sameBytes(digest, this.#digest)) {
      this.#finish(new Error(`the receiver confirmed digest ${Sha256.hex(digest)}, `
        + `but the file has ${Sha256.hex(this.#digest)}`));
      return;
    }
    this.#phase = "complete";
    this.#acknowledged = this.#size;
    this.#reportProgress();
    this.#finish(null, {
      name: this.#name, size: this.#size, digest: Sha256.hex(this.#digest), resentBytes: this.#resentBytes,
      connections: this.#connections, chunkSize: this.#chunkSize,
    });
  }

  #refused(code, reason) {
    const words = REFUSAL_WORDS[code] ?? "other";
    if (code === REFUSAL_BUSY && this.#busyRefusals < (this.#options.maxBusyRetries ?? 60)) {
      // Another connection of the receiver still holds the transfer (an old one after a silent
      // drop): offer again on this connection after a pause, until the receiver lets it go.
      this.#busyRefusals += 1;
      const round = this.#round;
      setTimeout(() => {
        if (round === this.#round && this.#phase === "offered" && this.#settle !== null) this.#send(this.#offer);
      }, this.#options.busyRetryDelayMs ?? 1000);
      return;
    }
    this.#finish(errorWith(`the receiver refused the transfer (${words}): ${reason}`, { code, reason }));
  }

  /** Sends chunks while the window allows, and the finish message after the last one. */
  async #pump() {
    if (this.#pumping) return; // the running loop sees the new state at its next turn
    this.#pumping = true;
    try {
      while (this.#settle !== null && this.#phase === "sending" && this.#socket.connected) {
        if (this.#next >= this.#size) {
          this.#phase = "finished";
          this.#send(finishMessage(this.#id, this.#digest));
          break;
        }
        const length = Math.min(this.#chunkSize, this.#size - this.#next);
        const inFlight = this.#next - this.#acknowledged;
        if (inFlight > 0 && inFlight + length > Math.max(this.#window, this.#chunkSize)) break;
        // Less than a chunk waits in the browser's buffer before the next goes in: a close on
        // pagehide queues behind it, and must still reach the server before the page is gone.
        if (this.#socket.bufferedAmount >= this.#chunkSize) {
          await delay(BUFFER_POLL_MS);
          continue;
        }
        const offset = this.#next;
        this.#next = offset + length;
        if (!this.#send(this.#chunk(offset, length))) continue;
        this.#resentBytes += Math.max(0, Math.min(offset + length, this.#furthestSent) - offset);
        this.#furthestSent = Math.max(this.#furthestSent, offset + length);
      }
    } catch (error) {
      this.#finish(error);
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * A chunk message as a Blob of its header and a slice of the file: the browser reads the file
   * into the socket itself, so no copy of the data is made in script (and none waits for the
   * garbage collector). A file changed meanwhile is caught by the digest at the end.
   */
  #chunk(offset, length) {
    const header = transferMessage(TRANSFER_KIND.chunk, this.#id, 8);
    writeUint64(header, TRANSFER_HEADER_SIZE, offset);
    return new Blob([header, this.#file.slice(offset, offset + length)]);
  }

  #reportProgress() {
    const now = Date.now();
    const samples = this.#rateSamples;
    samples.push({ time: now, acknowledged: this.#acknowledged });
    while (samples.length > 1 && samples[0].time < now - RATE_WINDOW_MS) samples.shift();
    const seconds = (now - samples[0].time) / 1000;
    const bytesPerSecond = seconds > 0 ? Math.max(0, (this.#acknowledged - samples[0].acknowledged) / seconds) : 0;
    this.#options.onProgress?.({
      phase: "sending", acknowledged: this.#acknowledged, size: this.#size, bytesPerSecond,
      resentBytes: this.#resentBytes, chunkSize: this.#chunkSize, connections: this.#connections,
    });
  }

  #limitTooSmall(limit) {
    return new Error(`the server's message limit of ${limit} bytes leaves no room for data after the `
      + `${CHUNK_HEADER_SIZE}-byte chunk header`);
  }
}
