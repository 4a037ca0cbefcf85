import Foundation

/// A directory tree as a canonical manifest: one line per entry, sorted by path, naming each file's
/// blob. The same tree always encodes to the same bytes, so its digest identifies it.
public struct Tree: Sendable, Equatable {
    public struct Entry: Sendable, Hashable {
        public enum Kind: String, Sendable { case file = "F", directory = "D", symlink = "L" }
        public var kind: Kind
        /// Relative, `/`-separated, no leading or trailing slash.
        public var path: String
        /// Permission bits (07777).
        public var mode: UInt32
        public var size: Int64
        /// Modification time in nanoseconds since the epoch.
        public var mtime: Int64
        public var digest: Digest?
        public var target: String?
        /// Who owned it (restored when running as root).
        public var owner: Owner?
        /// A file that is a hard link to another file of the tree (which comes with the same digest).
        public var hardlink: String?
        /// Where the file's bytes are when its tree is placed in a directory (not part of the manifest).
        public var source: String?

        public init(kind: Kind, path: String, mode: UInt32, size: Int64 = 0, mtime: Int64, digest: Digest? = nil,
                    target: String? = nil, owner: Owner? = nil, hardlink: String? = nil) {
            self.kind = kind
            self.path = path
            self.mode = mode
            self.size = size
            self.mtime = mtime
            self.digest = digest
            self.target = target
            self.owner = owner
            self.hardlink = hardlink
        }
    }

    /// Numeric ids, and the names they had (a restore on another machine prefers the names).
    public struct Owner: Sendable, Hashable {
        public var uid: UInt32
        public var gid: UInt32
        public var user: String?
        public var group: String?

        public init(uid: UInt32, gid: UInt32, user: String?, group: String?) {
            self.uid = uid
            self.gid = gid
            self.user = user
            self.group = group
        }
    }

    public private(set) var entries: [Entry]

    /// The same tree with its files' bytes found where `places` say (the longest prefix wins).
    public func placed(_ places: [TreePlace]) -> Tree {
        guard !places.isEmpty else { return self }
        let ordered = places.sorted { $0.prefix.count > $1.prefix.count }
        var copy = self
        for index in copy.entries.indices where copy.entries[index].kind == .file {
            copy.entries[index].source = ordered.lazy.compactMap { $0.source(of: copy.entries[index].path) }.first
        }
        return copy
    }

    public init(entries: [Entry]) {
        self.entries = entries.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
    }

    public var totalSize: Int64 { entries.reduce(0) { $0 + $1.size } }
    public var files: [Entry] { entries.filter { $0.kind == .file } }

    public func encoded() -> Data {
        var text = "polyarchiv-tree 1\n"
        for entry in entries {
            text += "\(entry.kind.rawValue) \(String(entry.mode, radix: 8)) \(entry.size) \(entry.mtime) "
            text += (entry.digest?.hex ?? "-") + " " + Self.quote(entry.path)
            if let target = entry.target { text += " " + Self.quote(target) }
            if let owner = entry.owner {
                text += " u=\(owner.uid) g=\(owner.gid)"
                if let user = owner.user { text += " U=" + Self.quote(user) }
                if let group = owner.group { text += " G=" + Self.quote(group) }
            }
            if let hardlink = entry.hardlink { text += " h=" + Self.quote(hardlink) }
            text += "\n"
        }
        return Data(text.utf8)
    }

    public struct DecodingError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func decode(_ data: Data) throws -> Tree {
        let text = String(decoding: data, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.first == "polyarchiv-tree 1" else { throw DecodingError(description: "not a polyarchiv tree manifest") }
        lines.removeFirst()
        var entries: [Entry] = []
        for line in lines {
            let fields = line.split(separator: " ", maxSplits: 5)
            guard fields.count == 6, let kind = Entry.Kind(rawValue: String(fields[0])),
                  let mode = UInt32(fields[1], radix: 8), let size = Int64(fields[2]), let mtime = Int64(fields[3]),
                  let (path, afterPath) = unquote(Substring(fields[5])) else {
                throw DecodingError(description: "malformed tree manifest line: \(line.prefix(80))")
            }
            let digest = fields[4] == "-" ? nil : Digest(hex: String(fields[4]))
            var target: String?
            var rest = afterPath.drop { $0 == " " }
            if kind == .symlink {
                guard let (value, after) = unquote(rest) else {
                    throw DecodingError(description: "malformed symlink entry: \(line.prefix(80))")
                }
                target = value
                rest = after.drop { $0 == " " }
            }
            var entry = Entry(kind: kind, path: path, mode: mode, size: size, mtime: mtime, digest: digest, target: target)
            // Optional fields: u=UID g=GID U="user" G="group" h="hard link target".
            var owner = Owner(uid: 0, gid: 0, user: nil, group: nil)
            var hasOwner = false
            while !rest.isEmpty {
                guard rest.count > 2, rest.dropFirst().first == "=" else {
                    throw DecodingError(description: "malformed tree manifest field: \(line.prefix(80))")
                }
                let key = rest.first!
                rest = rest.dropFirst(2)
                if key == "u" || key == "g" {
                    let number = rest.prefix { $0 != " " }
                    guard let value = UInt32(number) else { throw DecodingError(description: "malformed owner: \(line.prefix(80))") }
                    if key == "u" { owner.uid = value } else { owner.gid = value }
                    hasOwner = true
                    rest = rest.dropFirst(number.count)
                } else {
                    guard let (value, after) = unquote(rest) else { throw DecodingError(description: "malformed field: \(line.prefix(80))") }
                    switch key {
                    case "U": owner.user = value
                    case "G": owner.group = value
                    case "h": entry.hardlink = value
                    default: throw DecodingError(description: "unknown tree manifest field \(key): \(line.prefix(80))")
                    }
                    rest = after
                }
                rest = rest.drop { $0 == " " }
            }
            if hasOwner { entry.owner = owner }
            entries.append(entry)
        }
        return Tree(entries: entries)
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if scalar.value < 0x20 { result += String(format: "\\u%04x", scalar.value) } else { result.unicodeScalars.append(scalar) }
            }
        }
        return result + "\""
    }

    static func unquote(_ text: Substring) -> (String, Substring)? {
        guard text.first == "\"" else { return nil }
        var result = ""
        var index = text.index(after: text.startIndex)
        while index < text.endIndex {
            let character = text[index]
            if character == "\"" { return (result, text[text.index(after: index)...]) }
            if character == "\\" {
                index = text.index(after: index)
                guard index < text.endIndex else { return nil }
                switch text[index] {
                case "n": result += "\n"
                case "t": result += "\t"
                case "r": result += "\r"
                case "u":
                    let hexStart = text.index(after: index)
                    guard let hexEnd = text.index(hexStart, offsetBy: 4, limitedBy: text.endIndex),
                          let value = UInt32(text[hexStart..<hexEnd], radix: 16), let scalar = Unicode.Scalar(value) else { return nil }
                    result.unicodeScalars.append(scalar)
                    index = text.index(before: hexEnd)
                default: result.append(text[index])
                }
            } else {
                result.append(character)
            }
            index = text.index(after: index)
        }
        return nil
    }

    /// This tree moved under `prefix` (a destination inside a collect point); sources stay where they are.
    public func prefixed(_ prefix: String) -> [Entry] {
        let clean = prefix.split(separator: "/").joined(separator: "/")
        guard !clean.isEmpty else { return entries }
        var result: [Entry] = []
        // The directories leading to the destination; the destination itself takes the tree's root entry
        // (the source directory's mode and mtime) when it has one.
        let components = clean.split(separator: "/")
        let hasRoot = entries.contains { $0.path.isEmpty }
        for depth in 1...components.count where depth < components.count || !hasRoot {
            let path = components.prefix(depth).joined(separator: "/")
            result.append(Entry(kind: .directory, path: path, mode: 0o755, mtime: 0))
        }
        for var entry in entries {
            entry.path = entry.path.isEmpty ? clean : clean + "/" + entry.path
            entry.hardlink = entry.hardlink.map { clean + "/" + $0 }
            result.append(entry)
        }
        return result
    }
}

extension Tree.Entry {
    /// Entries are the same when the manifest says the same: where the bytes are found is not part of it.
    public static func == (lhs: Tree.Entry, rhs: Tree.Entry) -> Bool {
        (lhs.kind, lhs.path, lhs.mode, lhs.size, lhs.mtime) == (rhs.kind, rhs.path, rhs.mode, rhs.size, rhs.mtime)
            && (lhs.digest, lhs.target, lhs.owner, lhs.hardlink) == (rhs.digest, rhs.target, rhs.owner, rhs.hardlink)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(path)
        hasher.combine(digest)
        hasher.combine(mtime)
    }
}

extension ContentStore {
    /// Stores a tree's manifest; the artifact's size is the total size of its files. `placedAt`: the directory
    /// that holds its files (they stay there, and are not copied into the store).
    public func put(_ tree: Tree, placedAt root: String) throws -> Artifact {
        try put(tree, places: [TreePlace(prefix: "", root: root)])
    }

    /// A tree whose files are found where `places` say (those under none of them are in the store).
    public func put(_ tree: Tree, places: [TreePlace] = []) throws -> Artifact {
        let manifest = try put(tree.encoded())
        return Artifact(kind: .tree, digest: manifest.digest, size: tree.totalSize, places: places)
    }

    public func tree(_ digest: Digest) throws -> Tree {
        try Tree.decode(try data(of: digest))
    }

    /// A tree artifact's tree, its files found where it is placed.
    public func tree(_ artifact: Artifact) throws -> Tree {
        try tree(artifact.digest).placed(artifact.places ?? [])
    }
}
