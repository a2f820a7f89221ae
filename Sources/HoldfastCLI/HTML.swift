/// The HTML that `holdfast serve` writes: escaping, and the shell every page shares (one inline
/// stylesheet, no external resources, so the pages work offline and behind any proxy).
enum HTML {
    /// `text` made safe inside an element or a quoted attribute.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// A complete page: `title` (escaped here), the stylesheet, `body` (already HTML) and the
    /// script at `scriptPath`, if any, loaded as an ES module when `scriptIsModule` (so that it
    /// can import `holdfast.js`). Style and script are files of their own (``stylesheetPath``,
    /// e.g. ``StatusPage/scriptPath``), never inline, so that the pages' Content-Security-Policy
    /// can forbid every inline script.
    static func document(title: String, language: String, body: String, scriptPath: String? = nil,
                         scriptIsModule: Bool = false) -> String {
        """
        <!doctype html>
        <html lang="\(escape(language))">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <link rel="stylesheet" href="\(stylesheetPath)">
        </head>
        <body>
        \(body)
        \(scriptPath.map { "<script\(scriptIsModule ? " type=\"module\"" : "") src=\"\(escape($0))\"></script>" } ?? "")
        </body>
        </html>

        """
    }

    /// Where the pages' stylesheet is served.
    static let stylesheetPath = "/holdfast.css"

    /// The headers every page and file of `holdfast serve` is sent with: the declared type is
    /// the type (`nosniff`), nothing runs or loads but the server's own files and its WebSocket
    /// (the policy allows no inline script, no other origin, no form target), and no other site
    /// may frame the pages (clickjacking) or learn their URLs from a link's referrer.
    static let securityHeaders: [(name: String, value: String)] = [
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            + "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
    ]

    /// A small, quiet stylesheet: readable line length, tables with light rules, a dark variant;
    /// the upload page's drop zone, phases and progress bar; the chat's log and message form.
    static let stylesheet = """

        :root { color-scheme: light dark; --fg: #1d2330; --muted: #5b6475; --line: #d9dee7;
          --bg: #ffffff; --panel: #f5f7fa; --accent: #1f5fbf; --good: #1c7c4a; --warn: #a8431a; }
        @media (prefers-color-scheme: dark) {
          :root { --fg: #e4e8ef; --muted: #9aa3b2; --line: #343b48; --bg: #14181f; --panel: #1c222b;
            --accent: #7fb0ff; --good: #6fcf97; --warn: #ff9a6b; } }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--bg); color: var(--fg);
          font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
        main { max-width: 64rem; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; }
        nav { display: flex; gap: 1rem; flex-wrap: wrap; align-items: baseline; padding-bottom: .75rem;
          border-bottom: 1px solid var(--line); margin-bottom: 1.25rem; font-size: .95rem; }
        nav .brand { font-weight: 700; margin-right: auto; }
        a { color: var(--accent); text-decoration: none; }
        a:hover { text-decoration: underline; }
        h1 { font-size: 1.7rem; line-height: 1.25; margin: .25rem 0 .5rem; }
        h2 { font-size: 1.15rem; margin: 1.75rem 0 .5rem; }
        p { margin: .4rem 0 .9rem; }
        code, .code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
        .code { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .05rem .4rem; }
        .summary { color: var(--muted); font-size: 1.05rem; }
        table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
        th, td { text-align: left; vertical-align: top; padding: .55rem .7rem; border-bottom: 1px solid var(--line); }
        thead th { background: var(--panel); }
        tbody th { width: 14rem; color: var(--muted); font-weight: 600; }
        table.limits th { width: 1%; white-space: nowrap; padding-right: 2.5rem; }
        td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1.25rem;
          background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: .9rem 1.1rem; }
        dl.facts dt { color: var(--muted); font-weight: 600; }
        dl.facts dd { margin: 0; }
        ul { padding-left: 1.3rem; }
        li { margin: .3rem 0; }
        .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr)); gap: .75rem; margin: 1rem 0; }
        .card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: .75rem 1rem; }
        .card .label { color: var(--muted); font-size: .85rem; }
        .card .value { font-size: 1.6rem; font-weight: 650; font-variant-numeric: tabular-nums; }
        .card .detail { color: var(--muted); font-size: .8rem; }
        .live { font-size: .85rem; color: var(--muted); }
        .live::before { content: "●"; margin-right: .35rem; color: var(--warn); }
        .live.on::before { color: var(--good); }
        .muted { color: var(--muted); }
        .warning { color: var(--warn); font-weight: 600; }
        footer { margin-top: 2rem; color: var(--muted); font-size: .85rem; }
        nav a[aria-current] { color: var(--fg); font-weight: 650; }
        .error { color: var(--warn); background: var(--panel); border: 1px solid var(--warn); border-radius: 6px;
          padding: .5rem .8rem; }
        .state { font-size: .95rem; color: var(--muted); min-height: 1.55em; }
        .state::before { content: "●"; margin-right: .4rem; color: var(--muted); }
        .state.on::before { color: var(--good); }
        .state.waiting::before { color: var(--warn); }
        .dropzone { display: block; border: 2px dashed var(--line); border-radius: 10px; padding: 1.75rem 1.25rem;
          text-align: center; background: var(--panel); cursor: pointer; }
        .dropzone.over { border-color: var(--accent); }
        .dropzone .title { display: block; font-size: 1.1rem; font-weight: 600; margin-bottom: .6rem; }
        .dropzone input { max-width: 100%; }
        ol.phases { display: flex; gap: .5rem; list-style: none; padding: 0; margin: 1.25rem 0 .5rem; }
        ol.phases li { flex: 1; margin: 0; padding: .35rem .6rem; border-radius: 6px; border: 1px solid var(--line);
          color: var(--muted); text-align: center; font-size: .9rem; }
        ol.phases li.current { border-color: var(--accent); color: var(--accent); font-weight: 650; }
        ol.phases li.done { border-color: var(--good); color: var(--good); }
        progress { display: block; width: 100%; height: 1.1rem; margin: .5rem 0; accent-color: var(--accent); }
        .amount { font-variant-numeric: tabular-nums; margin: .25rem 0 .75rem; }
        .digest { overflow-wrap: anywhere; }
        ol.log { list-style: none; padding: .5rem .75rem; margin: .75rem 0; min-height: 12rem; max-height: 26rem;
          overflow-y: auto; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
        ol.log li { margin: .15rem 0; overflow-wrap: anywhere; }
        ol.log .offset { color: var(--muted); font-size: .8rem; font-variant-numeric: tabular-nums; margin-right: .5rem; }
        ol.log .from { font-weight: 650; margin-right: .5rem; }
        ol.log li.marker { color: var(--warn); font-size: .9rem; border-top: 1px dashed var(--warn); padding-top: .15rem; }
        form.compose { display: grid; grid-template-columns: 12rem 1fr auto; gap: .5rem; align-items: end; }
        form.compose label { display: block; color: var(--muted); font-size: .85rem; }
        input, button { font: inherit; }
        input[type=text] { width: 100%; padding: .4rem .55rem; border: 1px solid var(--line); border-radius: 6px;
          background: var(--bg); color: var(--fg); }
        button { padding: .4rem 1rem; border: 1px solid var(--accent); border-radius: 6px; background: var(--accent);
          color: var(--bg); cursor: pointer; }
        button.secondary { background: transparent; color: var(--accent); }

        """
}
