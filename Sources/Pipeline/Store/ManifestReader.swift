import Foundation

/// Reads a tree manifest (`Tree.encoded()`) byte by byte: trees hold tens of thousands of lines, and parsing
/// them Character by Character was most of an unchanged run.
struct ManifestReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var lineStart = 0
    private var scratch: [UInt8] = []

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func entries() throws -> [Tree.Entry] {
        let header = Array("polyarchiv-tree 1".utf8)
        guard bytes.count >= header.count, zip(bytes, header).allSatisfy({ $0 == $1 }),
              bytes.count == header.count || bytes[header.count] == newline else {
            throw Tree.DecodingError(description: "not a polyarchiv tree manifest")
        }
        index = header.count
        var entries: [Tree.Entry] = []
        while true {
            while index < bytes.count && bytes[index] == newline { index += 1 }
            guard index < bytes.count else { return entries }
            lineStart = index
            entries.append(try entry())
        }
    }

    private mutating func entry() throws -> Tree.Entry {
        let kind: Tree.Entry.Kind
        switch next() {
        case UInt8(ascii: "F"): kind = .file
        case UInt8(ascii: "D"): kind = .directory
        case UInt8(ascii: "L"): kind = .symlink
        default: throw malformed("entry kind")
        }
        try expect(space, "entry kind")
        guard let mode = number(radix: 8).flatMap(UInt32.init(exactly:)) else { throw malformed("mode") }
        try expect(space, "mode")
        guard let size = number(radix: 10) else { throw malformed("size") }
        try expect(space, "size")
        guard let mtime = number(radix: 10) else { throw malformed("mtime") }
        try expect(space, "mtime")
        var digest: Digest?
        if peek() == UInt8(ascii: "-") {
            index += 1
        } else {
            let end = min(index + 64, bytes.count)
            guard let parsed = Digest(hex: String(decoding: UnsafeBufferPointer(rebasing: bytes[index..<end]), as: UTF8.self)) else {
                throw malformed("digest")
            }
            digest = parsed
            index = end
        }
        try expect(space, "digest")
        guard let path = quoted() else { throw malformed("path") }
        var entry = Tree.Entry(kind: kind, path: path, mode: mode, size: size, mtime: mtime, digest: digest)
        if kind == .symlink {
            try expect(space, "path")
            guard let target = quoted() else { throw malformed("symlink target") }
            entry.target = target
        }
        // Optional fields: u=UID g=GID U="user" G="group" h="hard link target" x="xattr name"=BASE64 (repeated).
        var owner = Tree.Owner(uid: 0, gid: 0, user: nil, group: nil)
        var hasOwner = false
        while true {
            while peek() == space { index += 1 }
            guard let key = peek(), key != newline else { break }
            index += 1
            try expect(UInt8(ascii: "="), "field")
            switch key {
            case UInt8(ascii: "u"), UInt8(ascii: "g"):
                guard let value = number(radix: 10), let id = UInt32(exactly: value) else { throw malformed("owner") }
                if key == UInt8(ascii: "u") { owner.uid = id } else { owner.gid = id }
                hasOwner = true
            case UInt8(ascii: "x"):
                guard let name = quoted() else { throw malformed("extended attribute") }
                try expect(UInt8(ascii: "="), "extended attribute name")
                let start = index
                while let byte = peek(), byte != space, byte != newline { index += 1 }
                guard let value = Data(base64Encoded: Data(UnsafeBufferPointer(rebasing: bytes[start..<index]))) else {
                    throw malformed("extended attribute value")
                }
                entry.xattrs.append(Tree.ExtendedAttribute(name: name, value: Array(value)))
            case UInt8(ascii: "U"), UInt8(ascii: "G"), UInt8(ascii: "h"):
                guard let value = quoted() else { throw malformed("field") }
                if key == UInt8(ascii: "U") { owner.user = value } else if key == UInt8(ascii: "G") { owner.group = value } else { entry.hardlink = value }
            default:
                throw Tree.DecodingError(description: "unknown tree manifest field \(Character(Unicode.Scalar(key))): \(line)")
            }
        }
        if hasOwner { entry.owner = owner }
        return entry
    }

    private let newline = UInt8(ascii: "\n")
    private let space = UInt8(ascii: " ")

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func next() -> UInt8? {
        defer { index += 1 }
        return peek()
    }

    private mutating func expect(_ byte: UInt8, _ after: String) throws {
        guard next() == byte else { throw malformed(after) }
    }

    /// A non-negative integer in `radix` (8 or 10), or a negative decimal one.
    private mutating func number(radix: Int64) -> Int64? {
        var negative = false
        if radix == 10 && peek() == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var value: Int64 = 0
        var digits = 0
        while let byte = peek(), byte >= UInt8(ascii: "0"), byte < UInt8(ascii: "0") + UInt8(radix) {
            let (shifted, overflow) = value.multipliedReportingOverflow(by: radix)
            guard !overflow else { return nil }
            value = shifted + Int64(byte - UInt8(ascii: "0"))
            digits += 1
            index += 1
        }
        guard digits > 0 else { return nil }
        return negative ? -value : value
    }

    /// A JSON string literal as `Tree.quote` writes it.
    private mutating func quoted() -> String? {
        guard next() == UInt8(ascii: "\"") else { return nil }
        scratch.removeAll(keepingCapacity: true)
        while let byte = next() {
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: scratch, as: UTF8.self)
            case UInt8(ascii: "\\"):
                switch next() {
                case UInt8(ascii: "n"): scratch.append(newline)
                case UInt8(ascii: "t"): scratch.append(UInt8(ascii: "\t"))
                case UInt8(ascii: "r"): scratch.append(UInt8(ascii: "\r"))
                case UInt8(ascii: "u"):
                    guard index + 4 <= bytes.count,
                          let value = UInt32(String(decoding: UnsafeBufferPointer(rebasing: bytes[index..<index + 4]), as: UTF8.self), radix: 16),
                          let scalar = Unicode.Scalar(value) else { return nil }
                    scratch.append(contentsOf: String(Character(scalar)).utf8)
                    index += 4
                case let escaped?: scratch.append(escaped)
                case nil: return nil
                }
            default:
                scratch.append(byte)
            }
        }
        return nil
    }

    private var line: String {
        var end = lineStart
        while end < bytes.count && bytes[end] != newline && end - lineStart < 80 { end += 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[lineStart..<end]), as: UTF8.self)
    }

    private func malformed(_ what: String) -> Tree.DecodingError {
        Tree.DecodingError(description: "malformed tree manifest line (\(what)): \(line)")
    }
}
