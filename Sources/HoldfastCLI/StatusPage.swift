import Holdfast
import HoldfastCloseCodes

/// The status page `holdfast serve` answers at `/`: connections, message rates, bytes, closes by
/// code (each linked to its `/codes` page) and the limits in force, in English or with
/// `?lang=es` in Spanish. It is rendered with the figures of the moment, then kept live by its
/// own WebSocket to ``StatusBoard/path``.
enum StatusPage {
    /// What the page says about the server's settings, in every language: its mode (for the
    /// links to the mode's pages), the limits in force and, in `--mode channels`, where the
    /// history lives.
    struct Settings: Sendable {
        /// What the server serves.
        let mode: ServeMode
        /// The limits and settings in force, as the page's table lists them.
        let limits: Translated<[(name: String, value: String)]>
        /// Where the channels' history is kept, for people; `nil` outside `--mode channels`.
        let history: Translated<String>?
    }

    /// The page with `snapshot`'s figures and the `settings` in force, in `language`.
    static func html(_ snapshot: StatusSnapshot, limits settings: Settings, language: Language = .english) -> String {
        let words = Words(language)
        let live = "<span id=\"live\" class=\"live\">\(HTML.escape(words.connecting))</span>"
        var body = """
            <main>
            \(BrowserPages.navigation(.status, mode: settings.mode, language: language, trailing: live))\
            <h1>\(HTML.escape(words.heading))</h1>
            <div class="cards">
            \(card(words.connectionsNow, id: "connections", value: String(snapshot.connections),
                   detail: words.sinceStart("<span id=\"total\">\(snapshot.totalConnections)</span>")))
            \(card(words.messagesPerSecond, id: "rate", value: rate(snapshot, language),
                   detail: words.inAndOut("<span id=\"rateIn\">\(perSecond(snapshot.receivedPerSecond, language))</span>",
                                          "<span id=\"rateOut\">\(perSecond(snapshot.sentPerSecond, language))</span>")))
            \(card(words.received, id: "bytesIn", value: bytes(snapshot.bytesReceived, in: language),
                   detail: words.messages("<span id=\"messagesIn\">\(snapshot.messagesReceived)</span>")))
            \(card(words.sent, id: "bytesOut", value: bytes(snapshot.bytesSent, in: language),
                   detail: words.messages("<span id=\"messagesOut\">\(snapshot.messagesSent)</span>")))
            </div>
            <h2>\(HTML.escape(words.closesByCode))</h2>
            <table>
            <thead><tr><th>\(HTML.escape(words.code))</th><th>\(HTML.escape(words.name))</th>\
            <th class="number">\(HTML.escape(words.connections))</th></tr></thead>
            <tbody id="closes">\(closeRows(snapshot.closes, language: language))</tbody>
            </table>
            <p class="muted">\(words.slowConsumers("<span id=\"slow\">\(snapshot.slowConsumersClosed)</span>")) · \
            \(words.departures("<span id=\"departures\">\(snapshot.pageDepartures)</span>"))</p>
            \(channelsSection(snapshot.channels, history: settings.history?[language], language: language))\
            <h2>\(HTML.escape(words.limitsInForce))</h2>
            <table class="limits">
            <tbody>

            """
        for limit in settings.limits[language] {
            body += "<tr><th scope=\"row\">\(HTML.escape(limit.name))</th><td>\(HTML.escape(limit.value))</td></tr>\n"
        }
        body += """
            </tbody>
            </table>
            <footer>\(words.footer("<span id=\"uptime\">\(duration(snapshot.uptimeSeconds))</span>",
                                  "<span id=\"viewers\">\(snapshot.viewers)</span>"))</footer>
            </main>
            """
        return HTML.document(title: words.title, language: language.tag, body: body, scriptPath: scriptPath)
    }

    /// The channels of `--mode channels`: subscriptions, publishes, recoveries, and where the
    /// `history` is kept (the snapshot's own words when `nil`); empty in the other modes.
    private static func channelsSection(_ channels: StatusSnapshot.Channels?, history: String?,
                                        language: Language) -> String {
        guard let channels else { return "" }
        let words = ChannelWords(language)
        let figures = channels.statistics
        return """
            <h2>\(HTML.escape(words.heading))</h2>
            <div class="cards">
            \(card(words.channels, id: "channels", value: String(figures.channels),
                   detail: words.subscriptions("<span id=\"subscriptions\">\(figures.subscriptions)</span>")))
            \(card(words.publishesPerSecond, id: "publishRate", value: perSecond(channels.publishedPerSecond, language),
                   detail: words.publishes("<span id=\"published\">\(figures.published)</span>",
                                           "<span id=\"duplicates\">\(figures.duplicates)</span>",
                                           "<span id=\"refused\">\(figures.publishesRefused)</span>")))
            \(card(words.replayed, id: "replayed", value: String(figures.replayed), detail: HTML.escape(words.replayedDetail)))
            \(card(words.recoveries, id: "recoveries", value: String(figures.recoveries),
                   detail: words.recoveriesFailed("<span id=\"recoveriesFailed\">\(figures.recoveriesFailed)</span>")))
            </div>
            <p class="muted">\(words.history(HTML.escape(history ?? channels.store),
                                           "<span id=\"slowSubscribers\">\(figures.slowSubscribersClosed)</span>",
                                           "<span id=\"storedElsewhere\">\(figures.storedElsewhere)</span>"))</p>
            <p class="warning" id="storeUnavailable"\(figures.storeUnavailable == nil ? " hidden" : "")>\
            \(HTML.escape(words.storeUnavailable)) \
            <span id="storeProblem">\(HTML.escape(figures.storeUnavailable ?? ""))</span></p>

            """
    }

    private static func card(_ label: String, id: String, value: String, detail: String) -> String {
        "<div class=\"card\"><div class=\"label\">\(HTML.escape(label))</div>"
            + "<div class=\"value\" id=\"\(id)\">\(HTML.escape(value))</div><div class=\"detail\">\(detail)</div></div>"
    }

    /// The closes by code, each linked to its page in `language` and titled in it.
    private static func closeRows(_ closes: [StatusSnapshot.Close], language: Language) -> String {
        guard !closes.isEmpty else {
            return "<tr><td colspan=\"3\" class=\"muted\">\(HTML.escape(Words(language).noCloses))</td></tr>"
        }
        return closes.map { close in
            let link = BrowserPages.link("/codes/\(close.code)", language)
            let title = CloseCodeCatalog.entry(for: CloseCode(UInt16(close.code)), in: language).title
            return "<tr><td><a href=\"\(link)\"><span class=\"code\">\(close.code)</span></a></td>"
                + "<td><a href=\"\(link)\">\(HTML.escape(close.name))</a> "
                + "<span class=\"muted\">\(HTML.escape(title))</span></td>"
                + "<td class=\"number\">\(close.count)</td></tr>"
        }.joined(separator: "\n")
    }

    private static func rate(_ snapshot: StatusSnapshot, _ language: Language) -> String {
        guard let received = snapshot.receivedPerSecond, let sent = snapshot.sentPerSecond else { return "—" }
        return perSecond(received + sent, language)
    }

    /// A rate with one decimal under 100, whole above, with `language`'s decimal mark.
    private static func perSecond(_ value: Double?, _ language: Language) -> String {
        guard let value else { return "—" }
        return value >= 100 ? String(Int(value.rounded())) : decimal(Double(Int(value * 10)) / 10, language)
    }

    /// A byte count in the largest binary unit that keeps it above 1, with `language`'s decimal
    /// mark, as the script also writes it.
    static func bytes(_ count: Int, in language: Language = .english) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : "\(decimal(Double(Int(value * 10)) / 10, language)) \(units[unit])"
    }

    /// `value` as Swift writes a `Double` ("1.5", "64.0"), with a decimal comma in Spanish.
    static func decimal(_ value: Double, _ language: Language) -> String {
        let written = String(value)
        return language == .spanish ? written.replacingOccurrences(of: ".", with: ",") : written
    }

    private static func duration(_ seconds: Int) -> String {
        seconds < 60 ? "\(seconds) s" : seconds < 3600 ? "\(seconds / 60) min \(seconds % 60) s"
            : "\(seconds / 3600) h \(seconds / 60 % 60) min"
    }

    /// Where ``script`` is served.
    static let scriptPath = "/status.js"

    /// Opens the status WebSocket and redraws the figures from each snapshot, in the page's
    /// language (`<html lang>`); reconnects after a second when the server goes away. Text goes
    /// in with `textContent`, never as HTML.
    static let script = """
        (function () {
          const $ = (id) => document.getElementById(id);
          const live = $("live");
          const spanish = document.documentElement.lang === "es";
          const words = spanish
            ? { live: "en directo", retrying: "desconectado — reintentando", noCloses: "\(Words(.spanish).noCloses)" }
            : { live: "live", retrying: "disconnected — retrying", noCloses: "\(Words(.english).noCloses)" };
          const closeTitles = \(BrowserPages.closeTitlesJSON)[spanish ? "es" : "en"];
          const codeLink = (code) => "/codes/" + code + (spanish ? "?lang=es" : "");
          const decimal = (v) => spanish ? String(v).replace(".", ",") : String(v);
          const rate = (v) => v == null ? "—" : (v >= 100 ? String(Math.round(v)) : decimal(Math.floor(v * 10) / 10));
          const bytes = (n) => {
            const units = ["B", "KiB", "MiB", "GiB", "TiB"]; let v = n, u = 0;
            while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
            return u === 0 ? n + " B" : decimal((Math.floor(v * 10) / 10).toFixed(1)) + " " + units[u];
          };
          const duration = (s) => s < 60 ? s + " s" : s < 3600 ? Math.floor(s / 60) + " min " + (s % 60) + " s"
            : Math.floor(s / 3600) + " h " + (Math.floor(s / 60) % 60) + " min";
          const cell = (tag, text, cls) => { const c = document.createElement(tag); if (cls) c.className = cls;
            if (text != null) c.textContent = text; return c; };
          const link = (href, child) => { const a = document.createElement("a"); a.href = href; a.append(child); return a; };
          function render(s) {
            $("connections").textContent = s.connections;
            $("total").textContent = s.totalConnections;
            $("rate").textContent = s.receivedPerSecond == null ? "—" : rate(s.receivedPerSecond + s.sentPerSecond);
            $("rateIn").textContent = rate(s.receivedPerSecond);
            $("rateOut").textContent = rate(s.sentPerSecond);
            $("bytesIn").textContent = bytes(s.bytesReceived);
            $("bytesOut").textContent = bytes(s.bytesSent);
            $("messagesIn").textContent = s.messagesReceived;
            $("messagesOut").textContent = s.messagesSent;
            $("uptime").textContent = duration(s.uptimeSeconds);
            $("viewers").textContent = s.viewers;
            const rows = s.closes.map((c) => {
              const tr = document.createElement("tr");
              const code = cell("td"); code.append(link(codeLink(c.code), cell("span", String(c.code), "code")));
              const name = cell("td"); name.append(link(codeLink(c.code), document.createTextNode(c.name)), " ",
                cell("span", \(BrowserPages.closeTitleLookup("c.code", in: "closeTitles")) || c.title, "muted"));
              tr.append(code, name, cell("td", String(c.count), "number"));
              return tr;
            });
            if (rows.length === 0) {
              const tr = document.createElement("tr"); const td = cell("td", words.noCloses, "muted");
              td.colSpan = 3; tr.append(td); rows.push(tr);
            }
            $("closes").replaceChildren(...rows);
            $("slow").textContent = s.slowConsumersClosed;
            $("departures").textContent = s.pageDepartures;
            if (s.channels) {
              const c = s.channels, f = c.statistics;
              $("channels").textContent = f.channels;
              $("subscriptions").textContent = f.subscriptions;
              $("publishRate").textContent = rate(c.publishedPerSecond);
              $("published").textContent = f.published;
              $("duplicates").textContent = f.duplicates;
              $("refused").textContent = f.publishesRefused;
              $("replayed").textContent = f.replayed;
              $("recoveries").textContent = f.recoveries;
              $("recoveriesFailed").textContent = f.recoveriesFailed;
              $("slowSubscribers").textContent = f.slowSubscribersClosed;
              $("storedElsewhere").textContent = f.storedElsewhere;
              $("storeUnavailable").hidden = !f.storeUnavailable;
              $("storeProblem").textContent = f.storeUnavailable || "";
            }
          }
          function connect() {
            const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "\(StatusBoard.path)");
            socket.onopen = () => { live.textContent = words.live; live.classList.add("on"); };
            socket.onmessage = (event) => render(JSON.parse(event.data));
            socket.onclose = () => { live.textContent = words.retrying; live.classList.remove("on");
              setTimeout(connect, 1000); };
          }
          connect();
        })();
        """

    /// The page's words in one language. Phrases around a figure take the figure's HTML (a
    /// `<span>` the script updates) and return HTML; everything else is plain text.
    private struct Words {
        let title: String
        let heading: String
        let connecting: String
        let connectionsNow: String
        let sinceStart: (String) -> String
        let messagesPerSecond: String
        let inAndOut: (String, String) -> String
        let received: String
        let sent: String
        let messages: (String) -> String
        let closesByCode: String
        let code: String
        let name: String
        let connections: String
        let noCloses: String
        let slowConsumers: (String) -> String
        let departures: (String) -> String
        let limitsInForce: String
        let footer: (String, String) -> String

        init(_ language: Language) {
            switch language {
            case .english:
                title = "holdfast serve — status"
                heading = "Server status"
                connecting = "connecting…"
                connectionsNow = "Connections now"
                sinceStart = { "\($0) since start" }
                messagesPerSecond = "Messages per second"
                inAndOut = { "in \($0) · out \($1)" }
                received = "Received"
                sent = "Sent"
                messages = { "\($0) messages" }
                closesByCode = "Closes by code"
                code = "Code"
                name = "Name"
                connections = "Connections"
                noCloses = "No connection has closed yet."
                slowConsumers = { "\($0) closed for reading too slowly (1013, outbound backlog over the limit)" }
                departures = { "\($0) pages left (4001 from holdfast.js, or a browser's own 1001): departures, not failures" }
                limitsInForce = "Limits in force"
                footer = { "Up \($0) · \($1) status page(s) watching, not counted above · "
                    + "messages and bytes are data-message payloads" }
            case .spanish:
                title = "holdfast serve — estado"
                heading = "Estado del servidor"
                connecting = "conectando…"
                connectionsNow = "Conexiones ahora"
                sinceStart = { "\($0) desde el inicio" }
                messagesPerSecond = "Mensajes por segundo"
                inAndOut = { "entrada \($0) · salida \($1)" }
                received = "Recibido"
                sent = "Enviado"
                messages = { "\($0) mensajes" }
                closesByCode = "Cierres por código"
                code = "Código"
                name = "Nombre"
                connections = "Conexiones"
                noCloses = "Todavía no se ha cerrado ninguna conexión."
                slowConsumers = { "\($0) cerradas por leer demasiado despacio (1013, cola de salida por encima del límite)" }
                departures = { "\($0) páginas abandonadas (4001 de holdfast.js, o el 1001 del propio navegador): salidas, no fallos" }
                limitsInForce = "Límites en vigor"
                footer = { "En marcha desde hace \($0) · \($1) página(s) de estado mirando, sin contar arriba · "
                    + "mensajes y bytes son cargas útiles de mensajes de datos" }
            }
        }
    }

    /// The words of the channels section in one language, as ``Words``.
    private struct ChannelWords {
        let heading: String
        let channels: String
        let subscriptions: (String) -> String
        let publishesPerSecond: String
        let publishes: (String, String, String) -> String
        let replayed: String
        let replayedDetail: String
        let recoveries: String
        let recoveriesFailed: (String) -> String
        let history: (String, String, String) -> String
        let storeUnavailable: String

        init(_ language: Language) {
            switch language {
            case .english:
                heading = "Channels"
                channels = "Channels subscribed"
                subscriptions = { "\($0) subscriptions" }
                publishesPerSecond = "Publishes per second"
                publishes = { "\($0) stored, \($1) retries stored once, \($2) refused" }
                replayed = "Replayed"
                replayedDetail = "publications sent from history to resuming subscribers"
                recoveries = "Recoveries"
                recoveriesFailed = { "\($0) could not be filled (recovered: false)" }
                history = { "History: \($0) · \($1) subscribers closed while catching up (1013) · "
                    + "\($2) publications from other nodes" }
                storeUnavailable = "Store out of reach — publishes are refused (clients retry) until it is back:"
            case .spanish:
                heading = "Canales"
                channels = "Canales con suscriptores"
                subscriptions = { "\($0) suscripciones" }
                publishesPerSecond = "Publicaciones por segundo"
                publishes = { "\($0) guardadas, \($1) reintentos guardados una sola vez, \($2) rechazadas" }
                replayed = "Reenviadas"
                replayedDetail = "publicaciones enviadas desde el historial a suscriptores que se reanudan"
                recoveries = "Recuperaciones"
                recoveriesFailed = { "\($0) no pudieron completarse (recovered: false)" }
                history = { "Historial: \($0) · \($1) suscriptores cerrados mientras se ponían al día (1013) · "
                    + "\($2) publicaciones de otros nodos" }
                storeUnavailable = "Almacén inaccesible — las publicaciones se rechazan (los clientes reintentan) hasta que vuelva:"
            }
        }
    }
}
