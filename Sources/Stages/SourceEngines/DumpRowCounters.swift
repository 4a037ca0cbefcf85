import Foundation
import Pipeline

/// Rows per table counted in a dump as it streams by (the dump is read once, for the store): what a restore
/// drill compares the restored database with. Kept in the journal under the dump stage, the newest only
/// (one entry per source: the journal stays bounded), with the digest of the dump it describes.
enum DumpRows {
    static let namespace = "dump.rows"

    struct Entry: Codable {
        let digest: Digest
        let counts: [String: Int]
    }

    static func save(_ counts: [String: Int], of artifact: Artifact, _ context: StageContext) throws {
        try context.table(namespace).encode(Entry(digest: artifact.digest, counts: counts), context.node.id.description)
    }

    /// The counts of `stage`'s dump, when its newest one is `digest`.
    static func load(stage: String, digest: Digest, _ journal: Journal) -> [String: Int]? {
        guard let entry = try? journal.table(namespace).decoded(Entry.self, stage), entry.digest == digest else { return nil }
        return entry.counts
    }
}

/// pg_dump's plain format: the lines between `COPY schema.table (…) FROM stdin;` and `\.` are its rows.
struct CopyRowCounter {
    private(set) var counts: [String: Int] = [:]
    private var table: String?
    /// The start of the current line (enough to recognise COPY and `\.`), and whether it is longer.
    private var head: [UInt8] = []

    mutating func consume(_ bytes: UnsafeRawBufferPointer) {
        var start = 0
        while start < bytes.count {
            if let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
                keep(bytes[start..<newline])
                endLine()
                start = newline + 1
            } else {
                keep(bytes[start...])
                break
            }
        }
    }

    private mutating func keep(_ part: Slice<UnsafeRawBufferPointer>) {
        let room = 512 - head.count
        if room > 0 { head.append(contentsOf: part.prefix(room)) }
    }

    private mutating func endLine() {
        defer { head.removeAll(keepingCapacity: true) }
        if let current = table {
            if head == [UInt8(ascii: "\\"), UInt8(ascii: ".")] { table = nil } else { counts[current, default: 0] += 1 }
            return
        }
        let line = String(decoding: head, as: UTF8.self)
        guard line.hasPrefix("COPY "), line.hasSuffix(" FROM stdin;") else { return }
        let name = line.dropFirst("COPY ".count).prefix { $0 != " " && $0 != "(" }
        table = String(name)
        counts[String(name), default: 0] += 0
    }
}

/// mysqldump's extended inserts: `INSERT INTO `t` VALUES (…),(…);` (MariaDB puts each tuple on a line of
/// its own) — each parenthesised tuple at the top level, outside quoted strings, is a row, up to the `;`.
struct InsertRowCounter {
    private(set) var counts: [String: Int] = [:]
    private enum State { case lineStart, other, name, values }
    private var state = State.lineStart
    private var matched = 0
    private var name: [UInt8] = []
    private var table = ""
    private var inString = false
    private var escaped = false
    private var depth = 0
    private static let prefix = Array("INSERT INTO `".utf8)

    mutating func consume(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            switch state {
            case .lineStart, .other:
                if byte == UInt8(ascii: "\n") {
                    state = .lineStart
                    matched = 0
                } else if state == .lineStart {
                    if byte == Self.prefix[matched] {
                        matched += 1
                        if matched == Self.prefix.count {
                            state = .name
                            name.removeAll(keepingCapacity: true)
                        }
                    } else {
                        state = .other
                    }
                }
            case .name:
                if byte == UInt8(ascii: "`") {
                    state = .values
                    inString = false
                    escaped = false
                    depth = 0
                    table = String(decoding: name, as: UTF8.self)
                    counts[table, default: 0] += 0
                } else {
                    name.append(byte)
                }
            case .values:
                if inString {
                    if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "'") { inString = false }
                } else if byte == UInt8(ascii: "'") {
                    inString = true
                } else if byte == UInt8(ascii: "(") {
                    if depth == 0 { counts[table, default: 0] += 1 }
                    depth += 1
                } else if byte == UInt8(ascii: ")") {
                    depth -= 1
                } else if byte == UInt8(ascii: ";") && depth == 0 {
                    state = .other
                }
            }
        }
    }
}
