import HoldfastChannels
import HoldfastCloseCodes

/// The page `holdfast serve --mode channels` answers at `/chat`: a room (the channel `room`, or
/// `?room=NAME`) through `holdfast.js`'s `ChannelClient`. It opens with the room's last
/// ``recentOnLoad`` messages and resumes from the last offset after every reconnect, the server
/// replaying what it missed, so each message shows once, in order, with who wrote it and its
/// offset; a gap the history could not fill after a reconnect is marked in the log. Messages are published as
/// JSON text `{"from": name, "text": …}`; one over the server's limit is not sent, and the page
/// says why. Element ids for tests: `name`, `message`, `send`, `log`, `status`.
enum ChatPage {
    /// Where the page is served.
    static let path = "/chat"
    /// Where ``script(clientModulePath:)`` is served.
    static let scriptPath = "/chat.js"
    /// The room of a page asked for without `?room=`.
    static let defaultRoom = "room"
    /// Messages of the room's history a freshly opened page shows.
    static let recentOnLoad = 50

    /// Whether `room` may name a channel (``ChannelName``): the server would refuse any other.
    static func isRoomName(_ room: String) -> Bool {
        (try? ChannelName(validating: room)) != nil
    }

    /// The room `room` in `language`. The room's name is in the `data-room` of `<main>`, where
    /// the script reads it.
    static func html(room: String, language: Language) -> String {
        let words = Words(language)
        let parameters = room == defaultRoom ? [] : [(name: "room", value: room)]
        let body = """
            <main data-room="\(HTML.escape(room))">
            \(BrowserPages.navigation(.chat, mode: .channels, language: language, parameters: parameters))\
            <h1>\(HTML.escape(words.heading)) <span class="code">\(HTML.escape(room))</span></h1>
            <p class="summary">\(HTML.escape(words.summary))</p>
            <p class="state" id="status">\(HTML.escape(words.connecting))</p>
            <ol class="log" id="log" aria-live="polite"></ol>
            <form class="compose" id="compose">
            <div><label for="name">\(HTML.escape(words.name))</label>\
            <input type="text" id="name" maxlength="40" autocomplete="nickname"></div>
            <div><label for="message">\(HTML.escape(words.message))</label>\
            <input type="text" id="message" autocomplete="off" required></div>
            <button type="submit" id="send">\(HTML.escape(words.send))</button>
            </form>
            <p class="error" id="error" hidden></p>
            <p class="muted">\(HTML.escape(words.note))</p>
            </main>
            """
        return HTML.document(title: "holdfast serve — \(words.heading) \(room)", language: language.tag, body: body,
                             scriptPath: scriptPath, scriptIsModule: true)
    }

    /// The 400 page for a `?room=` that cannot name a channel.
    static func notARoom(_ room: String, language: Language) -> String {
        let words = Words(language)
        let body = """
            <main>
            \(BrowserPages.navigation(.chat, mode: .channels, language: language))\
            <h1>400 — \(HTML.escape(words.notARoom))</h1>
            <p>\(HTML.escape(words.roomRule))</p>
            <p><a href="\(HTML.escape(BrowserPages.link(path, language)))">\(HTML.escape(path))</a></p>
            </main>
            """
        return HTML.document(title: "400 — \(words.notARoom)", language: language.tag, body: body)
    }

    /// The page's words in one language.
    private struct Words {
        let heading: String
        let summary: String
        let connecting: String
        let name: String
        let message: String
        let send: String
        let note: String
        let notARoom: String
        let roomRule: String

        init(_ language: Language) {
            switch language {
            case .english:
                heading = "Chat room"
                summary = "Everyone on this page sees the same messages, in the same order, each with its offset "
                    + "in the room's history."
                connecting = "connecting…"
                name = "Your name"
                message = "Message"
                send = "Send"
                note = "The page opens with the room's last \(recentOnLoad) messages. After a reconnect (a server restart, "
                    + "a network change) the server replays what this page missed, so nothing is lost or shown twice; "
                    + "when its history no longer holds it, the log says so."
                notARoom = "Not a room name"
                roomRule = "A room name is 1 to \(ChannelName.maxLength) bytes of UTF-8 without control characters."
            case .spanish:
                heading = "Sala de chat"
                summary = "Todos los que están en esta página ven los mismos mensajes, en el mismo orden, cada uno "
                    + "con su posición (offset) en el historial de la sala."
                connecting = "conectando…"
                name = "Tu nombre"
                message = "Mensaje"
                send = "Enviar"
                note = "La página se abre con los últimos \(recentOnLoad) mensajes de la sala. Tras una reconexión (un "
                    + "reinicio del servidor, un cambio de red) el servidor reenvía lo que esta página se perdió, así que "
                    + "nada falta ni se muestra dos veces; si su historial ya no lo guarda, el registro lo indica."
                notARoom = "No es un nombre de sala"
                roomRule = "Un nombre de sala tiene de 1 a \(ChannelName.maxLength) bytes de UTF-8 sin caracteres de control."
            }
        }
    }

    /// Joins the room of `<main data-room>` with `holdfast.js`'s `ChannelClient` (imported from
    /// `clientModulePath`), starting with its last ``recentOnLoad`` messages: every publication
    /// goes into the log with its offset, author and text, a gap or a new epoch (the server lost its history) as a marker; the connection's state
    /// (the events of `client.socket`) goes in the state line, refusals in the error line. Sends
    /// what the form holds as `{"from", "text"}`; a message over the server's limit is refused
    /// before sending, with its size and the limit. Message data goes in with `textContent`,
    /// never as HTML.
    static func script(clientModulePath: String) -> String {
        """
        import { ChannelClient, MessageTooBigError } from "\(clientModulePath)";
        import { language, bytes, reconnecting, closed, gaveUp, socketURL } from "\(BrowserPages.sharedScriptPath)";

        const words = {
          en: {
            joined: (room) => "connected — in " + room,
            resumed: "connected again — the missed messages were replayed",
            open: "connected",
            gap: (from) => "Messages before offset " + from + " could not be recovered: the history no longer holds them.",
            newEpoch: "The server started a new history: earlier messages are gone.",
            anonymous: "anonymous",
            binary: (size) => "(binary message, " + bytes(size) + ")",
            tooBig: (error) => error.message,
            notSent: (why) => "Not sent: " + why,
            refused: (why) => "Refused by the server: " + why,
          },
          es: {
            joined: (room) => "conectado — en " + room,
            resumed: "conectado de nuevo — se reenviaron los mensajes perdidos",
            open: "conectado",
            gap: (from) => "No se pudieron recuperar los mensajes anteriores al offset " + from + ": el historial ya no los guarda.",
            newEpoch: "El servidor empezó un historial nuevo: los mensajes anteriores se han perdido.",
            anonymous: "anónimo",
            binary: (size) => "(mensaje binario, " + bytes(size) + ")",
            tooBig: (error) => "El mensaje ocupa " + bytes(error.size) + " y el servidor acepta como mucho " + bytes(error.limit) + ": no se envía.",
            notSent: (why) => "No enviado: " + why,
            refused: (why) => "El servidor lo rechazó: " + why,
          },
        }[language];

        const $ = (id) => document.getElementById(id);
        const room = document.querySelector("main").dataset.room;
        const log = $("log");
        const status = $("status");
        const nameKey = "holdfast.chat.name";

        function show(text, state) {
          status.textContent = text;
          status.className = "state" + (state ? " " + state : "");
        }

        function showError(text) {
          $("error").textContent = text;
          $("error").hidden = text === "";
        }

        function span(className, text) {
          const element = document.createElement("span");
          element.className = className;
          element.textContent = text;
          return element;
        }

        function append(item) {
          const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
          log.append(item);
          if (atBottom) log.scrollTop = log.scrollHeight;
        }

        function marker(text) {
          const item = document.createElement("li");
          item.className = "marker";
          item.textContent = text;
          append(item);
        }

        // Who wrote a publication and what: its JSON {from, text}, or the data itself.
        function message(detail) {
          if (detail.kind === "binary" || typeof detail.data !== "string") {
            return { from: "", text: words.binary(detail.data.byteLength) };
          }
          try {
            const parsed = JSON.parse(detail.data);
            if (parsed && typeof parsed.text === "string") {
              return { from: typeof parsed.from === "string" ? parsed.from : "", text: parsed.text };
            }
          } catch {}
          return { from: "", text: detail.data };
        }

        // Where the room stands, learned on a short connection of its own, so that the page opens
        // with the last \(recentOnLoad) messages: a subscription starts after that position and the
        // server replays them. `null` (nothing but what follows) when the server does not answer
        // within 3 s.
        async function recentPosition() {
          const probe = new ChannelClient(socketURL("\(path)"), { maxAttempts: 2 });
          try {
            return await new Promise((resolve) => {
              setTimeout(() => resolve(null), 3000);
              probe.socket.addEventListener("gaveup", () => resolve(null));
              const standing = probe.subscribe(room);
              standing.addEventListener("error", () => resolve(null));
              standing.addEventListener("subscribed", (event) => resolve({
                epoch: event.detail.epoch, offset: Math.max(0, event.detail.offset - \(recentOnLoad)),
              }));
            });
          } finally {
            probe.close();
          }
        }

        const since = await recentPosition();
        const client = new ChannelClient(socketURL("\(path)"));
        const subscription = client.subscribe(room, since === null ? {} : { since });
        let epoch = null;

        // The connection's events are the socket's; the channel's and the client's errors are refusals.
        client.socket.addEventListener("open", () => show(words.open, "on"));
        client.socket.addEventListener("close", (event) => show(closed(event.detail), "waiting"));
        client.socket.addEventListener("reconnecting", (event) => show(reconnecting(event.detail), "waiting"));
        client.socket.addEventListener("gaveup", (event) => show(gaveUp(event.detail)));
        const refused = (event) => showError(words.refused(event.detail.reason + " (" + event.detail.code + ")"));
        client.addEventListener("error", refused);
        subscription.addEventListener("error", refused);
        subscription.addEventListener("subscribed", (event) => {
          const detail = event.detail;
          if (epoch !== null && detail.epoch !== epoch) marker(words.newEpoch);
          show(epoch === null ? words.joined(room) : words.resumed, "on");
          epoch = detail.epoch;
        });
        subscription.addEventListener("publication", (event) => {
          const { from, text } = message(event.detail);
          const item = document.createElement("li");
          item.append(span("offset", "#" + event.detail.offset), span("from", from || "—"), span("text", text));
          append(item);
        });
        // The first answer's gap is the page's own start: history shorter than the last messages it
        // asked for (a quiet or trimmed room) lost nothing this page had.
        let answers = 0;
        subscription.addEventListener("subscribed", () => { answers += 1; });
        subscription.addEventListener("gap", (event) => { if (answers > 1) marker(words.gap(event.detail.from)); });

        $("name").value = localStorage.getItem(nameKey) ?? "";
        $("name").addEventListener("change", () => localStorage.setItem(nameKey, $("name").value.trim()));
        $("compose").addEventListener("submit", async (event) => {
          event.preventDefault();
          const text = $("message").value;
          if (text.trim() === "") return;
          const from = $("name").value.trim() || words.anonymous;
          showError("");
          $("message").value = "";
          try {
            await client.publish(room, JSON.stringify({ from, text }));
          } catch (error) {
            if ($("message").value === "") $("message").value = text;
            showError(error instanceof MessageTooBigError ? words.tooBig(error) : words.notSent(error.message));
          }
        });

        """
    }
}
