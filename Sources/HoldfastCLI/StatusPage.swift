import Holdfast

/// The status page `holdfast serve` answers at `/`: connections, message rates, bytes, closes by
/// code (each linked to its `/codes` page) and the limits in force. It is rendered with the
/// figures of the moment, then kept live by its own WebSocket to ``StatusBoard/path``.
enum StatusPage {
    /// The page with `snapshot`'s figures and the `limits` in force.
    static func html(_ snapshot: StatusSnapshot, limits: [(name: String, value: String)]) -> String {
        var body = """
            <main>
            <nav><span class="brand">holdfast serve</span><a href="/codes/">Close codes</a>\
            <a href="/codes/1001-vs-1009">1001 vs 1009</a>\
            <span id="live" class="live">connecting…</span></nav>
            <h1>Server status</h1>
            <div class="cards">
            \(card("Connections now", id: "connections", value: String(snapshot.connections),
                   detail: "<span id=\"total\">\(snapshot.totalConnections)</span> since start"))
            \(card("Messages per second", id: "rate", value: rate(snapshot),
                   detail: "in <span id=\"rateIn\">\(perSecond(snapshot.receivedPerSecond))</span> · out "
                       + "<span id=\"rateOut\">\(perSecond(snapshot.sentPerSecond))</span>"))
            \(card("Received", id: "bytesIn", value: bytes(snapshot.bytesReceived),
                   detail: "<span id=\"messagesIn\">\(snapshot.messagesReceived)</span> messages"))
            \(card("Sent", id: "bytesOut", value: bytes(snapshot.bytesSent),
                   detail: "<span id=\"messagesOut\">\(snapshot.messagesSent)</span> messages"))
            </div>
            <h2>Closes by code</h2>
            <table>
            <thead><tr><th>Code</th><th>Name</th><th class="number">Connections</th></tr></thead>
            <tbody id="closes">\(closeRows(snapshot.closes))</tbody>
            </table>
            <p class="muted"><span id="slow">\(snapshot.slowConsumersClosed)</span> closed for reading too slowly \
            (1013, outbound backlog over the limit)</p>
            \(channelsSection(snapshot.channels))<h2>Limits in force</h2>
            <table class="limits">
            <tbody>

            """
        for limit in limits {
            body += "<tr><th scope=\"row\">\(HTML.escape(limit.name))</th><td>\(HTML.escape(limit.value))</td></tr>\n"
        }
        body += """
            </tbody>
            </table>
            <footer>Up <span id="uptime">\(duration(snapshot.uptimeSeconds))</span> · \
            <span id="viewers">\(snapshot.viewers)</span> status page(s) watching, not counted above · \
            messages and bytes are data-message payloads</footer>
            </main>
            """
        return HTML.document(title: "holdfast serve — status", language: "en", body: body, scriptPath: scriptPath)
    }

    /// The channels of `--mode channels`: subscriptions, publishes, recoveries; empty otherwise.
    private static func channelsSection(_ channels: StatusSnapshot.Channels?) -> String {
        guard let channels else { return "" }
        let figures = channels.statistics
        return """
            <h2>Channels</h2>
            <div class="cards">
            \(card("Channels subscribed", id: "channels", value: String(figures.channels),
                   detail: "<span id=\"subscriptions\">\(figures.subscriptions)</span> subscriptions"))
            \(card("Publishes per second", id: "publishRate", value: perSecond(channels.publishedPerSecond),
                   detail: "<span id=\"published\">\(figures.published)</span> stored, "
                       + "<span id=\"duplicates\">\(figures.duplicates)</span> retries stored once, "
                       + "<span id=\"refused\">\(figures.publishesRefused)</span> refused"))
            \(card("Replayed", id: "replayed", value: String(figures.replayed),
                   detail: "publications sent from history to resuming subscribers"))
            \(card("Recoveries", id: "recoveries", value: String(figures.recoveries),
                   detail: "<span id=\"recoveriesFailed\">\(figures.recoveriesFailed)</span> could not be filled "
                       + "(recovered: false)"))
            </div>
            <p class="muted">History: \(HTML.escape(channels.store)) · <span id="slowSubscribers">\(figures.slowSubscribersClosed)</span> \
            subscribers closed while catching up (1013) · <span id="storedElsewhere">\(figures.storedElsewhere)</span> \
            publications from other nodes</p>
            <p class="warning" id="storeUnavailable"\(figures.storeUnavailable == nil ? " hidden" : "")>\
            Store out of reach — publishes are refused (clients retry) until it is back: \
            <span id="storeProblem">\(HTML.escape(figures.storeUnavailable ?? ""))</span></p>

            """
    }

    private static func card(_ label: String, id: String, value: String, detail: String) -> String {
        "<div class=\"card\"><div class=\"label\">\(HTML.escape(label))</div>"
            + "<div class=\"value\" id=\"\(id)\">\(HTML.escape(value))</div><div class=\"detail\">\(detail)</div></div>"
    }

    private static func closeRows(_ closes: [StatusSnapshot.Close]) -> String {
        guard !closes.isEmpty else {
            return "<tr><td colspan=\"3\" class=\"muted\">No connection has closed yet.</td></tr>"
        }
        return closes.map { close in
            "<tr><td><a href=\"/codes/\(close.code)\"><span class=\"code\">\(close.code)</span></a></td>"
                + "<td><a href=\"/codes/\(close.code)\">\(HTML.escape(close.name))</a> "
                + "<span class=\"muted\">\(HTML.escape(close.title))</span></td>"
                + "<td class=\"number\">\(close.count)</td></tr>"
        }.joined(separator: "\n")
    }

    private static func rate(_ snapshot: StatusSnapshot) -> String {
        guard let received = snapshot.receivedPerSecond, let sent = snapshot.sentPerSecond else { return "—" }
        return perSecond(received + sent)
    }

    private static func perSecond(_ value: Double?) -> String {
        guard let value else { return "—" }
        return value >= 100 ? String(Int(value.rounded())) : String(Double(Int(value * 10)) / 10)
    }

    /// A byte count in the largest binary unit that keeps it above 1, as the script also writes it.
    static func bytes(_ count: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : "\(Double(Int(value * 10)) / 10) \(units[unit])"
    }

    private static func duration(_ seconds: Int) -> String {
        seconds < 60 ? "\(seconds) s" : seconds < 3600 ? "\(seconds / 60) min \(seconds % 60) s"
            : "\(seconds / 3600) h \(seconds / 60 % 60) min"
    }

    /// Where ``script`` is served.
    static let scriptPath = "/status.js"

    /// Opens the status WebSocket and redraws the figures from each snapshot; reconnects after a
    /// second when the server goes away. Text goes in with `textContent`, never as HTML.
    static let script = """
        (function () {
          const $ = (id) => document.getElementById(id);
          const live = $("live");
          const rate = (v) => v == null ? "—" : (v >= 100 ? String(Math.round(v)) : String(Math.floor(v * 10) / 10));
          const bytes = (n) => {
            const units = ["B", "KiB", "MiB", "GiB", "TiB"]; let v = n, u = 0;
            while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
            return u === 0 ? n + " B" : (Math.floor(v * 10) / 10) + " " + units[u];
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
              const code = cell("td"); code.append(link("/codes/" + c.code, cell("span", String(c.code), "code")));
              const name = cell("td"); name.append(link("/codes/" + c.code, document.createTextNode(c.name)), " ",
                cell("span", c.title, "muted"));
              tr.append(code, name, cell("td", String(c.count), "number"));
              return tr;
            });
            if (rows.length === 0) {
              const tr = document.createElement("tr"); const td = cell("td", "No connection has closed yet.", "muted");
              td.colSpan = 3; tr.append(td); rows.push(tr);
            }
            $("closes").replaceChildren(...rows);
            $("slow").textContent = s.slowConsumersClosed;
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
            socket.onopen = () => { live.textContent = "live"; live.classList.add("on"); };
            socket.onmessage = (event) => render(JSON.parse(event.data));
            socket.onclose = () => { live.textContent = "disconnected — retrying"; live.classList.remove("on");
              setTimeout(connect, 1000); };
          }
          connect();
        })();
        """
}
