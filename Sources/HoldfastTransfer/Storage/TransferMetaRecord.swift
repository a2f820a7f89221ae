import HoldfastCore

/// The content of a `.meta` file: one `key value` per line, the name last.
struct TransferMetaRecord {
    var offer: TransferOffer
    var held: Int

    init(offer: TransferOffer, held: Int) {
        self.offer = offer
        self.held = held
    }

    var text: String {
        """
        holdfast-transfer 1
        id \(offer.id)
        size \(offer.size)
        digest \(offer.digest?.description ?? "-")
        held \(held)
        name \(offer.name)

        """
    }

    init?(parsing text: String) {
        var fields: [Substring: Substring] = [:]
        for line in text.split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { return nil }
            fields[line[..<space]] = line[line.index(after: space)...]
        }
        guard fields["holdfast-transfer"] == "1", let idText = fields["id"],
              let id = TransferID(hexadecimal: String(idText)),
              let size = fields["size"].flatMap({ Int($0) }), let held = fields["held"].flatMap({ Int($0) }),
              let digestText = fields["digest"], let name = fields["name"], size >= 0, held >= 0 else { return nil }
        let digest = digestText == "-" ? nil : TransferDigest(hexadecimal: String(digestText))
        guard digestText == "-" || digest != nil else { return nil }
        self.init(offer: TransferOffer(id: id, size: size, digest: digest, name: String(name)), held: min(held, size))
    }
}
