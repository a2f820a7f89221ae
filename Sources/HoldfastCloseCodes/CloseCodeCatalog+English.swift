import HoldfastCore

extension CloseCodeCatalog {
    /// The English texts: RFC 6455 §7.4 and the IANA registry in plain words, with what a
    /// developer sees and does about each code.
    static func englishText(for code: CloseCode) -> CloseCodeText {
        let number = code.rawValue
        switch number {
        case 1000:
            return CloseCodeText(
                title: "Normal Closure",
                summary: "the connection did what it was for and closed normally",
                meaning: """
                    The connection has fulfilled its purpose and is being closed on purpose. Either endpoint \
                    sends it to end a conversation that is over; it is the code a clean, intended close should carry.
                    """,
                whenSeen: """
                    When your code or the peer's calls close() without a code (most libraries and browsers \
                    default to 1000), when a client finishes its work and hangs up, or when a server ends a \
                    session that is complete, such as after a logout.
                    """,
                howToFix: """
                    Nothing is broken. If the close was not expected, find out which side started it and why; \
                    the close reason usually says. Do not reconnect automatically: the peer meant to end the \
                    connection.
                    """,
                action: "nothing to fix; do not reconnect unless your application wants a new session")
        case 1001:
            return CloseCodeText(
                title: "Going Away",
                summary: "an endpoint is going away: a server shutting down or restarting, a browser leaving the page",
                meaning: """
                    The endpoint that sent it is going away and will not continue this connection: a server \
                    shutting down or restarting, or a browser navigating away from the page or closing the \
                    tab. It says nothing about what was sent; the connection simply has no future.
                    """,
                whenSeen: """
                    When a server restarts for a deploy or maintenance and closes its connections on the way \
                    down; when a user closes the tab or navigates away; when a client app shuts down. A \
                    Holdfast server sends 1001 to every client on shutdown and drains before it exits, so a \
                    restart shows up as 1001 rather than 1006.
                    """,
                howToFix: """
                    Reconnect automatically, with exponential backoff and jitter, and resume where you left off \
                    (resend what was not acknowledged). Honour a retry hint in the reason if the server gave \
                    one. On the server side, send 1001 on shutdown instead of dropping sockets, and spread the \
                    closes so that clients do not all come back at once.
                    """,
                action: "reconnect with exponential backoff and jitter, then resume")
        case 1002:
            return CloseCodeText(
                title: "Protocol Error",
                summary: "the peer broke the WebSocket protocol",
                meaning: """
                    The endpoint is ending the connection because it received something that violates RFC \
                    6455: a malformed frame, reserved bits set without a negotiated extension, an unknown \
                    opcode, a fragmented or oversized control frame, an unmasked frame from a client, or a \
                    close frame with an invalid code.
                    """,
                whenSeen: """
                    When a hand-written or buggy WebSocket implementation talks to a strict one, when a proxy \
                    corrupts or rewrites frames, or when raw TCP data is written on an upgraded connection. \
                    The close reason usually names the rule that was broken.
                    """,
                howToFix: """
                    Fix the sender: read the close reason, capture the traffic (with Wireshark, for example) \
                    and compare the offending frame with RFC 6455 §5. Use a tested WebSocket library instead \
                    of hand-built frames, and check that the proxies in between support WebSockets. \
                    Reconnecting fails the same way.
                    """,
                action: "fix the implementation that sent the bad frame; a retry fails the same way")
        case 1003:
            return CloseCodeText(
                title: "Unsupported Data",
                summary: "the endpoint cannot accept this type of data, e.g. binary where it only understands text",
                meaning: """
                    The endpoint received a type of data it cannot accept: for example, an endpoint that only \
                    understands text received a binary message, or the other way round.
                    """,
                whenSeen: """
                    When a client sends binary frames to a text-only server (or text to a binary-only one), \
                    often after a change of serialization, a wrong message type in the client library, or a \
                    connection to the wrong endpoint.
                    """,
                howToFix: """
                    Send the message type the peer expects (text or binary), check the subprotocol and the \
                    API's documentation, and make both sides agree on the encoding. Reconnecting without \
                    changing what you send fails again.
                    """,
                action: "send the data type the peer accepts (text or binary)")
        case 1004:
            return CloseCodeText(
                title: "Reserved",
                summary: "reserved by RFC 6455; no meaning is defined and it is never sent",
                meaning: """
                    Reserved. RFC 6455 sets this code aside for a meaning that might be defined in the \
                    future; none has been, and it may not be sent in a close frame.
                    """,
                whenSeen: """
                    Practically never. If a peer sends it, a conforming endpoint treats that close frame as a \
                    protocol error (1002).
                    """,
                howToFix: """
                    Do not send 1004. If a peer sends it, fix that peer to use 1000, 1001 or an application \
                    code (3000–4999) instead.
                    """,
                action: "do not send it; use a defined code instead")
        case 1005:
            return CloseCodeText(
                title: "No Status Received",
                summary: "the close frame carried no status code; reported locally, never sent",
                meaning: """
                    Reported by an API when the peer's close frame had no status code (an empty body). It is \
                    a placeholder for "no code", not a code anyone sends, and it may never appear in a close \
                    frame.
                    """,
                whenSeen: """
                    When the peer calls close() without a code on a library that then sends an empty close \
                    frame, or a proxy closes the connection with a bare close frame. The close handshake was \
                    still clean.
                    """,
                howToFix: """
                    Usually nothing is wrong. If you need to know why the peer closed, have it send an \
                    explicit code and reason (1000, 1001 or an application code). A Holdfast client treats it \
                    as an unexplained close and reconnects.
                    """,
                action: "ask the peer to send an explicit code; reconnecting is reasonable")
        case 1006:
            return CloseCodeText(
                title: "Abnormal Closure",
                summary: "the connection ended without a close frame; reported locally, never sent",
                meaning: """
                    Reported by an API when the connection ended without any close frame: the TCP connection \
                    dropped, timed out or was reset. Like 1005 it is a placeholder and may never appear in a \
                    close frame.
                    """,
                whenSeen: """
                    When the server process crashes or is killed, when the network, Wi-Fi or a mobile link \
                    drops, when a proxy or load balancer cuts an idle connection, when a server restarts \
                    without a graceful shutdown, or when the TLS or upgrade handshake fails in a browser \
                    (which hides the reason).
                    """,
                howToFix: """
                    Reconnect with backoff. Then look for the cause: server logs and crash reports, idle \
                    timeouts of proxies and load balancers (send keepalive pings more often than the shortest \
                    one), and servers that exit without closing their connections — make them send 1001 on \
                    shutdown.
                    """,
                action: "reconnect with backoff; then find out what dropped the connection")
        case 1007:
            return CloseCodeText(
                title: "Invalid Frame Payload Data",
                summary: "a message's data did not match its type, e.g. a text message that is not valid UTF-8",
                meaning: """
                    The endpoint received data within a message that is not consistent with the type of the \
                    message — most often a text message that is not valid UTF-8. A close reason that is not \
                    valid UTF-8 gets the same code.
                    """,
                whenSeen: """
                    When a sender puts binary data, or text in another encoding (Latin-1, UTF-16), into a \
                    text frame, or cuts a multi-byte character in two when it splits a message into fragments \
                    by hand.
                    """,
                howToFix: """
                    Send only valid UTF-8 in text messages and anything else as binary. When you fragment text \
                    yourself, split it on character boundaries. Reconnecting fails the same way.
                    """,
                action: "send valid UTF-8 as text and everything else as binary")
        case 1008:
            return CloseCodeText(
                title: "Policy Violation",
                summary: "a message violated the endpoint's policy",
                meaning: """
                    The endpoint received a message that violates its policy. It is a generic code for when no \
                    more specific one (such as 1003 or 1009) fits, or when the endpoint prefers to hide the \
                    details of its policy.
                    """,
                whenSeen: """
                    When authentication is missing or an authorization token is invalid or expired, when a \
                    client exceeds a rate limit or sends a message the application forbids, or when an origin \
                    or subprotocol check fails after the upgrade.
                    """,
                howToFix: """
                    Read the close reason and the server's logs to learn which rule was broken; refresh the \
                    credentials, slow down, or change the offending message. Reconnect only after fixing it: a \
                    plain retry is refused the same way.
                    """,
                action: "fix what the policy refused (credentials, rate, content), then reconnect")
        case 1009:
            return CloseCodeText(
                title: "Message Too Big",
                summary: "a message or frame exceeded the size the receiver accepts",
                meaning: """
                    The endpoint received a message too big for it to process: a frame or a whole message \
                    exceeded its configured maximum frame or message size. Holdfast refuses such a frame from \
                    its header, before it buffers the payload, and names the limit in the reason, e.g. \
                    "message exceeds limit of 1048576 bytes".
                    """,
                whenSeen: """
                    When a payload exceeds the receiver's maximum frame or message size: large uploads, files \
                    or images sent as one message, huge JSON documents, a batch that grew over time, or a \
                    compressed message that inflates past the limit.
                    """,
                howToFix: """
                    Send less per frame or per message: fragment large messages into frames and split large \
                    payloads into chunks (a Holdfast client fragments to the frame limit a Holdfast server \
                    announces, and refuses unsent, with a typed error, a message over its message limit). Or, \
                    if you run the receiver, raise its limit (maxMessageSize, maxFrameSize). Sending the same \
                    message again fails again.
                    """,
                action: "reconnect and send smaller pieces (fragment or chunk), or raise the receiver's limit")
        case 1010:
            return CloseCodeText(
                title: "Mandatory Extension",
                summary: "the client needed an extension the server did not negotiate",
                meaning: """
                    Sent by a client that expected the server to negotiate one or more extensions (such as \
                    permessage-deflate) and did not get them in the handshake response; the reason lists the \
                    extensions it needs. A server does not send it: it fails the handshake instead.
                    """,
                whenSeen: """
                    When a client requires compression or another extension and the server, or a proxy that \
                    strips the Sec-WebSocket-Extensions header, does not agree to it.
                    """,
                howToFix: """
                    Enable the extension on the server, make sure no proxy removes the extension headers, or \
                    let the client accept a connection without it. Reconnecting unchanged gives the same \
                    result.
                    """,
                action: "enable the extension on the server or stop requiring it")
        case 1011:
            return CloseCodeText(
                title: "Internal Error",
                summary: "the endpoint met an unexpected condition that kept it from fulfilling the request",
                meaning: """
                    The endpoint (usually the server) met an unexpected condition that prevented it from \
                    fulfilling the request — the WebSocket counterpart of HTTP 500. RFC 6455 defines it for \
                    servers; the IANA registry (errata 3227) allows either endpoint.
                    """,
                whenSeen: """
                    When the server's handler throws an unhandled error or crashes, when a database or another \
                    dependency it needs fails, or when it runs out of a resource.
                    """,
                howToFix: """
                    Reconnect with backoff: the fault may be transient. If it repeats, look in the server's \
                    logs for the error behind it; the reason is often vague on purpose. If the same message \
                    triggers it every time, the server has a bug that this message exposes.
                    """,
                action: "reconnect with backoff; if it repeats, fix the server error its logs show")
        case 1012:
            return CloseCodeText(
                title: "Service Restart",
                summary: "the service is restarting",
                meaning: """
                    The server is restarting and closes the connection for that reason (IANA registry). \
                    Clients should reconnect, waiting a randomised time before the first attempt.
                    """,
                whenSeen: """
                    During a deploy, a configuration reload or a rolling restart, on servers that say so \
                    precisely instead of sending 1001.
                    """,
                howToFix: """
                    Reconnect with backoff and jitter (start with a random delay of a few seconds so that the \
                    clients do not all come back at once) and resume. Nothing is wrong with the client.
                    """,
                action: "reconnect after a randomised delay, with backoff")
        case 1013:
            return CloseCodeText(
                title: "Try Again Later",
                summary: "the server is overloaded or temporarily unable to serve; try again later",
                meaning: """
                    The server is overloaded or temporarily unable to handle the connection, and asks the \
                    client to try again later (IANA registry). A gateway whose upstream is overloaded may send \
                    it too.
                    """,
                whenSeen: """
                    When a server is at its connection limit, shedding load, rate-limiting new sessions or \
                    waiting for a dependency to come back. A Holdfast server also sends it to a client that \
                    reads too slowly: more than its outbound budget waited to be written (`outbound backlog \
                    exceeds limit of N bytes`), or nothing was read for the idle timeout while writes waited \
                    (`nothing read for N s`). The reason tells a slow reader from a server that is leaving, \
                    which says 1001.
                    """,
                howToFix: """
                    Reconnect later with exponential backoff and jitter — not at once, which adds to the load. \
                    On the server side, add capacity or raise the connection limits if it happens routinely. \
                    A slow reader should read as fast as messages arrive (process them off the reading task) \
                    and resume from where it was (channels recover by offset); or the operator raises the \
                    budget (`--max-backlog`).
                    """,
                action: "wait, then reconnect with exponential backoff and jitter")
        case 1014:
            return CloseCodeText(
                title: "Bad Gateway",
                summary: "a gateway or proxy received an invalid response from the upstream server",
                meaning: """
                    The server was acting as a gateway or proxy and received an invalid response from the \
                    upstream server — the WebSocket counterpart of HTTP 502.
                    """,
                whenSeen: """
                    When a reverse proxy, API gateway or load balancer between the client and the application \
                    cannot reach the upstream WebSocket server, or the upstream fails its side of the \
                    connection.
                    """,
                howToFix: """
                    Reconnect with backoff; the upstream may come back. If it persists, check the upstream \
                    server's health and the proxy's configuration (the upstream address, its WebSocket upgrade \
                    settings, its timeouts).
                    """,
                action: "reconnect with backoff; check the upstream behind the proxy if it persists")
        case 1015:
            return CloseCodeText(
                title: "TLS Handshake",
                summary: "the TLS handshake failed; reported locally, never sent",
                meaning: """
                    Reported by an API when the connection was closed because the TLS handshake failed, for \
                    example because the server's certificate could not be verified. Like 1005 and 1006 it may \
                    never appear in a close frame.
                    """,
                whenSeen: """
                    When connecting with wss:// to a server whose certificate is expired, self-signed or for \
                    another host name, that lacks an intermediate certificate, or that shares no TLS version \
                    or cipher with the client; or through a proxy that intercepts TLS.
                    """,
                howToFix: """
                    Fix the TLS set-up: renew or correct the certificate and its chain, connect with the host \
                    name the certificate names, trust the right certificate authority on the client, and check \
                    the TLS versions on both sides. Reconnecting unchanged fails the same way.
                    """,
                action: "fix the certificate or the TLS configuration; a retry fails the same way")
        case 1016...2999:
            return CloseCodeText(
                title: "Unassigned",
                summary: "not assigned in the IANA registry; may not be sent",
                meaning: """
                    Code \(number) lies in the range 1000–2999 that RFC 6455 keeps for the protocol and its \
                    extensions, but no meaning has been assigned to it. It may not be sent; an endpoint that \
                    receives it fails the connection with 1002.
                    """,
                whenSeen: """
                    Only when a peer makes up a code in the protocol's range (a bug), or when a newer \
                    specification assigns it and your tools predate it.
                    """,
                howToFix: """
                    Use 1000 or 1001 for ordinary closes and 3000–4999 for reasons of your own. If a peer \
                    sends it, fix that peer.
                    """,
                action: "use a defined code or an application code (4000–4999) instead")
        case 3000...3999:
            return CloseCodeText(
                title: "Registered",
                summary: "a code registered with IANA by a library, framework or application",
                meaning: """
                    Code \(number) lies in the range 3000–3999, which IANA registers for libraries, frameworks \
                    and applications, first come, first served. Its meaning is defined by whoever registered \
                    it, not by RFC 6455 (for example, 3000 is registered as Unauthorized, 3003 as Forbidden \
                    and 3008 as Timeout).
                    """,
                whenSeen: """
                    When the peer uses a library or framework that defines close codes of its own, or an \
                    application that registered \(number) to tell its clients something specific.
                    """,
                howToFix: """
                    Look \(number) up in the IANA "WebSocket Close Code Number" registry and in the \
                    documentation of the framework or service you talk to. Holdfast does not reconnect after \
                    it by default; set ReconnectPolicy.shouldRetry if the code means "come back".
                    """,
                action: "look up the code's registered meaning; reconnect only if it says so")
        case 4001:
            return CloseCodeText(
                title: "Page Left",
                summary: "Holdfast's browser client closed because its page was hidden or unloaded",
                meaning: """
                    Code 4001 is a private-use code that Holdfast gives a meaning: holdfast.js closes its \
                    connection with it, reason "page left", when the page fires pagehide — the user \
                    navigated away, closed the tab, or the page went into the back/forward cache. Script may \
                    only send 1000 or 3000–4999, so it cannot send 1001 Going Away itself.
                    """,
                whenSeen: """
                    On a server, each time a page using holdfast.js is left. A Holdfast server counts these \
                    as page departures, apart from failures such as 1006.
                    """,
                howToFix: """
                    Nothing to fix: the page ended its connection on purpose, promptly, instead of leaving it \
                    open in the back/forward cache or cutting it later. When the page is shown again \
                    (pageshow), holdfast.js reconnects and resumes on its own.
                    """,
                action: "nothing to fix; the page reconnects by itself if it is shown again")
        case 4000...4999:
            return CloseCodeText(
                title: "Private Use",
                summary: "a private code whose meaning the two endpoints agree on",
                meaning: """
                    Code \(number) lies in the range 4000–4999, reserved for private use: it cannot be \
                    registered, and it means whatever the application on both ends agrees it means.
                    """,
                whenSeen: """
                    When the server or client application closes with a code of its own — commonly for \
                    failed authentication, a session kicked out, or a business rule.
                    """,
                howToFix: """
                    Read the close reason and the documentation or source of the application that sent it. \
                    Holdfast does not reconnect after it by default; decide per code with \
                    ReconnectPolicy.shouldRetry.
                    """,
                action: "find out what the application means by it; reconnect only if it says so")
        default:
            return CloseCodeText(
                title: "Invalid",
                summary: "outside the close-code space 1000–4999; never valid",
                meaning: """
                    Code \(number) lies outside 1000–4999, the only numbers RFC 6455 §7.4.2 allows as close \
                    codes (0–999 are never used). It cannot be sent, and receiving it is a protocol error \
                    (1002).
                    """,
                whenSeen: """
                    When something reports an HTTP status or an error number as if it were a close code, or \
                    a peer sends a corrupt close frame.
                    """,
                howToFix: """
                    Check where the number came from. Close codes are 1000–4999; use 4000–4999 for reasons \
                    specific to your application.
                    """,
                action: "use a close code between 1000 and 4999")
        }
    }
}
