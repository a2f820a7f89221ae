import ArgumentParser
import Holdfast
import HoldfastCloseCodes

/// `holdfast compare CODE CODE`: two close codes side by side, with their key differences.
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two WebSocket close codes: meanings, key differences, when each applies.",
        discussion: """
            Shows both codes' entries (what each means, when you see it, how to fix it), then the key \
            differences — what each is about, whether it goes on the wire and who sends it, whether a \
            client should reconnect, what to do — and when each one applies.

            JSON is an object with "first" and "second" (one object per code, as 'holdfast explain' \
            prints them), "keyDifferences", "whenEachApplies", "title" and "language".

            Examples:
              holdfast compare 1001 1009
              holdfast compare 1001 1009 --lang es --format markdown
              holdfast compare 1006 1011 --format json
            """
    )

    @Argument(parsing: .allUnrecognized,
              help: ArgumentHelp("The two close codes to compare, from 1000 to 4999.", valueName: "code"))
    var codes: [String] = []

    @OptionGroup var page: CloseCodePageOptions

    func run() throws {
        let (language, format) = try page.resolved()
        let closeCodes = try CloseCodePageOptions.closeCodes(codes)
        guard closeCodes.count == 2 else {
            throw Terminal.fail("compare takes exactly two close codes, got \(closeCodes.count): try 'holdfast compare 1001 1009'")
        }
        let comparison = CloseCodeComparison(closeCodes[0], closeCodes[1], in: language)
        Terminal.say(try CloseCodePage.render(comparison, as: format))
    }
}
