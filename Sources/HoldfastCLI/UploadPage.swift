import HoldfastCloseCodes

/// The page `holdfast serve --mode files` answers at `/upload`: a file dropped or chosen is
/// sent with `holdfast.js`'s `upload` through the transfer protocol, as `holdfast send` sends
/// it, and the page shows its phases (hashing, sending, verified), the bytes acknowledged, the
/// rate, the bytes sent again, the chunk size, the connections, and the connection's state, so
/// that a server restart mid-way is visible and the bar goes on. Element ids for tests: `file`,
/// `progress`, `status`, `result`, `digest`.
enum UploadPage {
    /// Where the page is served.
    static let path = "/upload"
    /// Where ``script(clientModulePath:)`` is served.
    static let scriptPath = "/upload.js"

    /// The page in `language`.
    static func html(language: Language) -> String {
        let words = Words(language)
        let phases = [("hashing", words.hashing), ("sending", words.sending), ("verified", words.verified)]
            .map { "<li data-phase=\"\($0.0)\">\(HTML.escape($0.1))</li>" }.joined()
        let figures = [("rate", words.rate), ("resent", words.resent), ("chunkSize", words.chunkSize),
                       ("connections", words.connections)]
            .map { "<dt>\(HTML.escape($0.1))</dt><dd id=\"\($0.0)\">—</dd>" }.joined(separator: "\n")
        let body = """
            <main>
            \(BrowserPages.navigation(.upload, mode: .files, language: language))\
            <h1>\(HTML.escape(words.heading))</h1>
            <p class="summary">\(HTML.escape(words.summary))</p>
            <label class="dropzone" id="dropzone" for="file"><span class="title">\(HTML.escape(words.drop))</span>
            <input type="file" id="file"></label>
            <ol class="phases" id="phases">\(phases)</ol>
            <progress id="progress" max="1" value="0"></progress>
            <p class="amount" id="amount">—</p>
            <p class="state" id="status">\(HTML.escape(words.choose))</p>
            <p class="error" id="error" hidden></p>
            <p><button type="button" class="secondary" id="cancel" hidden>\(HTML.escape(words.cancel))</button></p>
            <dl class="facts">
            \(figures)
            </dl>
            <section id="result" hidden>
            <h2>\(HTML.escape(words.verified))</h2>
            <dl class="facts">
            <dt>\(HTML.escape(words.name))</dt><dd id="resultName"></dd>
            <dt>\(HTML.escape(words.size))</dt><dd id="resultSize"></dd>
            <dt>SHA-256</dt><dd><code class="digest" id="digest"></code></dd>
            </dl>
            </section>
            <p class="muted">\(HTML.escape(words.resumeNote))</p>
            </main>
            """
        return HTML.document(title: "holdfast serve — \(words.heading)", language: language.tag, body: body,
                             scriptPath: scriptPath, scriptIsModule: true)
    }

    /// The page's words in one language.
    private struct Words {
        let heading: String
        let summary: String
        let drop: String
        let choose: String
        let hashing: String
        let sending: String
        let verified: String
        let cancel: String
        let rate: String
        let resent: String
        let chunkSize: String
        let connections: String
        let name: String
        let size: String
        let resumeNote: String

        init(_ language: Language) {
            switch language {
            case .english:
                heading = "Upload a file"
                summary = "The file goes to this server's files folder over a WebSocket, in chunks the server "
                    + "acknowledges, and is kept under its name once its SHA-256 matches."
                drop = "Drop a file here, or choose one"
                choose = "Choose a file to start."
                hashing = "Hashing"
                sending = "Sending"
                verified = "Verified"
                cancel = "Cancel"
                rate = "Rate"
                resent = "Sent again"
                chunkSize = "Chunk size"
                connections = "Connections"
                name = "Name"
                size = "Size"
                resumeNote = "A server restart does not stop the upload: it reconnects and goes on. After a reload of "
                    + "this page, offer the same file again: it is hashed again, then resumes from the last byte the "
                    + "server acknowledged."
            case .spanish:
                heading = "Subir un archivo"
                summary = "El archivo va a la carpeta de archivos de este servidor por un WebSocket, en trozos que el "
                    + "servidor confirma, y se guarda con su nombre cuando su SHA-256 coincide."
                drop = "Suelta aquí un archivo o elige uno"
                choose = "Elige un archivo para empezar."
                hashing = "Calculando el hash"
                sending = "Enviando"
                verified = "Verificado"
                cancel = "Cancelar"
                rate = "Velocidad"
                resent = "Reenviado"
                chunkSize = "Tamaño de trozo"
                connections = "Conexiones"
                name = "Nombre"
                size = "Tamaño"
                resumeNote = "Un reinicio del servidor no detiene la subida: se reconecta y sigue. Si recargas esta "
                    + "página, ofrece el mismo archivo otra vez: se vuelve a calcular su hash y se reanuda desde el "
                    + "último byte que el servidor confirmó."
            }
        }
    }

    /// Uploads the file dropped or chosen with `holdfast.js` (imported from `clientModulePath`)
    /// to this server's WebSocket, and shows each progress report: the phase, the bar, the
    /// figures and the connection's state. While sending, a report that says the transfer
    /// reconnects (`phase: "reconnecting"`, with the delay and the close) is shown as such, and a
    /// connection count that grew as "connected again"; two seconds without an acknowledgement
    /// show that the page is waiting for the server. Refusals and failures are shown as they
    /// are, with their code. Text goes in with `textContent`, never as HTML.
    static func script(clientModulePath: String) -> String {
        """
        import { upload } from "\(clientModulePath)";
        import { language, bytes, number, seconds, reconnecting, socketURL } from "\(BrowserPages.sharedScriptPath)";

        const words = {
          en: {
            hashing: "Hashing the file (SHA-256) before sending…",
            sending: "Sending — connected",
            connectedAgain: (count) => "Sending — connected again (connection " + count + ")",
            waiting: (milliseconds) => "No acknowledgement for " + seconds(milliseconds) + " — waiting for the server",
            verified: "Verified: the server's SHA-256 matches.",
            cancelled: "Cancelled. Offer the file again to resume.",
            stopped: "Stopped.",
            refused: (why) => "Refused by the server: " + why,
            failed: (why) => "The upload failed: " + why,
            of: (done, size) => bytes(done) + " of " + bytes(size),
            hashed: (done, size) => bytes(done) + " of " + bytes(size) + " hashed",
            acknowledged: (done, size) => bytes(done) + " of " + bytes(size) + " acknowledged",
          },
          es: {
            hashing: "Calculando el hash del archivo (SHA-256) antes de enviarlo…",
            sending: "Enviando — conectado",
            connectedAgain: (count) => "Enviando — conectado de nuevo (conexión " + count + ")",
            waiting: (milliseconds) => "Sin confirmación desde hace " + seconds(milliseconds) + " — esperando al servidor",
            verified: "Verificado: el SHA-256 del servidor coincide.",
            cancelled: "Cancelado. Ofrece el archivo otra vez para reanudar.",
            stopped: "Detenido.",
            refused: (why) => "El servidor lo rechazó: " + why,
            failed: (why) => "La subida falló: " + why,
            of: (done, size) => bytes(done) + " de " + bytes(size),
            hashed: (done, size) => bytes(done) + " de " + bytes(size) + " con hash calculado",
            acknowledged: (done, size) => bytes(done) + " de " + bytes(size) + " confirmados",
          },
        }[language];

        const $ = (id) => document.getElementById(id);
        const progress = $("progress");
        const status = $("status");
        const phases = ["hashing", "sending", "verified"];
        // How long the page waits for an acknowledgement before it says it is waiting.
        const quietMilliseconds = 2000;

        function show(text, state) {
          status.textContent = text;
          status.className = "state" + (state ? " " + state : "");
        }

        function showPhase(current) {
          const index = phases.indexOf(current);
          for (const item of $("phases").children) {
            const position = phases.indexOf(item.dataset.phase);
            item.className = position < index || current === "verified" ? "done" : position === index ? "current" : "";
          }
        }

        function showError(text) {
          $("error").textContent = text;
          $("error").hidden = text === "";
        }

        let running = null;

        async function start(file) {
          if (running) running.abort();
          const controller = new AbortController();
          running = controller;
          let connections = 0;
          let lastAcknowledged = -1;
          let lastProgressAt = Date.now();
          let sending = false;
          const quiet = setInterval(() => {
            const silence = Date.now() - lastProgressAt;
            if (sending && silence >= quietMilliseconds && !status.classList.contains("waiting")) {
              show(words.waiting(silence), "waiting");
            }
          }, 500);
          showError("");
          $("result").hidden = true;
          $("cancel").hidden = false;
          $("file").disabled = true;
          progress.max = Math.max(file.size, 1);
          progress.value = 0;
          showPhase("hashing");
          show(words.hashing);
          try {
            const result = await upload(socketURL("\(path)"), file, {
              signal: controller.signal,
              onProgress: (report) => {
                lastProgressAt = Date.now();
                if (report.phase === "hashing") {
                  progress.value = report.hashed;
                  $("amount").textContent = words.hashed(report.hashed, report.size);
                } else if (report.phase === "sending") {
                  if (!sending) { sending = true; showPhase("sending"); show(words.sending, "on"); }
                  if (report.connections > connections && connections > 0) show(words.connectedAgain(report.connections), "on");
                  else if (report.acknowledged !== lastAcknowledged && status.classList.contains("waiting")) show(words.sending, "on");
                  connections = report.connections;
                  lastAcknowledged = report.acknowledged;
                  progress.max = Math.max(report.size, 1);
                  progress.value = report.acknowledged;
                  $("amount").textContent = words.acknowledged(report.acknowledged, report.size);
                  $("rate").textContent = bytes(Math.round(report.bytesPerSecond)) + "/s";
                  $("resent").textContent = bytes(report.resentBytes);
                  $("chunkSize").textContent = bytes(report.chunkSize);
                  $("connections").textContent = number(report.connections, 0);
                } else if (report.phase === "reconnecting") {
                  show(reconnecting(report), "waiting");
                }
              },
            });
            sending = false;
            progress.max = Math.max(result.size, 1);
            progress.value = result.size;
            showPhase("verified");
            show(words.verified, "on");
            $("amount").textContent = words.of(result.size, result.size);
            $("resent").textContent = bytes(result.resentBytes);
            $("chunkSize").textContent = bytes(result.chunkSize);
            $("connections").textContent = number(result.connections, 0);
            $("resultName").textContent = result.name;
            $("resultSize").textContent = bytes(result.size) + " (" + number(result.size, 0) + " B)";
            $("digest").textContent = result.digest;
            $("result").hidden = false;
          } catch (error) {
            sending = false;
            if (controller.signal.aborted) {
              show(words.cancelled);
            } else {
              const why = (error.reason || error.message) + (error.code != null ? " (" + error.code + ")" : "");
              show(words.stopped);
              showError(error.code != null ? words.refused(why) : words.failed(why));
            }
          } finally {
            clearInterval(quiet);
            if (running === controller) running = null;
            $("cancel").hidden = true;
            $("file").disabled = false;
            $("file").value = "";
          }
        }

        $("file").addEventListener("change", () => { if ($("file").files.length > 0) start($("file").files[0]); });
        $("cancel").addEventListener("click", () => { if (running) running.abort(); });
        const dropzone = $("dropzone");
        dropzone.addEventListener("dragover", (event) => { event.preventDefault(); dropzone.classList.add("over"); });
        dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
        dropzone.addEventListener("drop", (event) => {
          event.preventDefault();
          dropzone.classList.remove("over");
          if (!running && event.dataTransfer.files.length > 0) start(event.dataTransfer.files[0]);
        });

        """
    }
}
