import ArgumentParser
import Holdfast
import HoldfastCloseCodes

/// `holdfast explain CODE...`: what close codes mean, when you see them, how to fix them.
struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain WebSocket close codes: what each means, when you see it, how to fix it.",
        discussion: """
            For each code: its IANA name, what it means (RFC 6455 §7.4 and the IANA registry), when \
            you will see it, how to fix it, whether it may be sent in a close frame, who sends it, and \
            whether a client should reconnect (as Holdfast's reconnecting client decides). Codes run \
            from 1000 to 4999: 1000-1015 are the registry's, 1016-2999 are unassigned, 3000-3999 are \
            registered by libraries and frameworks, and 4000-4999 are private to applications.

            JSON is an array with one object per code (code, name, title, summary, meaning, whenSeen, \
            howToFix, action, sendable, retry, sentBy, kind, language).

            Examples:
              holdfast explain 1009
              holdfast explain 1001 1006 1012 --lang es
              holdfast explain 1009 --format json
              holdfast explain 4001 --format markdown > 4001.md
            """
    )

    @Argument(parsing: .allUnrecognized,
              help: ArgumentHelp("Close codes to explain, from 1000 to 4999.", valueName: "code"))
    var codes: [String] = []

    @OptionGroup var page: CloseCodePageOptions

    func run() throws {
        let (language, format) = try page.resolved()
        let closeCodes = try CloseCodePageOptions.closeCodes(codes)
        guard !closeCodes.isEmpty else {
            throw Terminal.fail("no close code given: try 'holdfast explain 1009'")
        }
        let entries = closeCodes.map { CloseCodeCatalog.entry(for: $0, in: language) }
        Terminal.say(try CloseCodePage.render(entries, in: language, as: format))
    }
}
