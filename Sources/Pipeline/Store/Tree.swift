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
        /// Extended attributes, sorted by name: `user.*`, POSIX ACLs (`system.posix_acl_access`/`_default`),
        /// capabilities (`security.capability`), whatever the walk could read.
        public var xattrs: [ExtendedAttribute] = []
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

    /// One extended attribute: its name and its value's bytes.
    public struct ExtendedAttribute: Sendable, Hashable {
        public let name: String
        public let value: [UInt8]

        public init(name: String, value: [UInt8]) {
            self.name = name
            self.value = value
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

    public internal(set) var entries: [Entry]

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
        func ordered(_ a: Entry, _ b: Entry) -> Bool { Self.precedes(a.path, b.path) }
        // A decoded manifest is sorted already: checking is linear, sorting is not.
        let sorted = zip(entries, entries.dropFirst()).allSatisfy { !ordered($1, $0) }
        self.entries = sorted ? entries : entries.sorted(by: ordered)
    }

    /// Byte order of two paths (memcmp of their UTF-8 where it is contiguous, as native strings are).
    static func precedes(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { left in
            b.withUTF8 { right in
                let common = min(left.count, right.count)
                let order = common == 0 ? 0 : memcmp(left.baseAddress!, right.baseAddress!, common)
                return order != 0 ? order < 0 : left.count < right.count
            }
        }
    }

    public var totalSize: Int64 { entries.reduce(0) { $0 + $1.size } }
    public var files: [Entry] { entries.filter { $0.kind == .file } }

    public func encoded() -> Data {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.count * 120 + 32)
        bytes.append(contentsOf: "polyarchiv-tree 1\n".utf8)
        for entry in entries {
            Self.appendLine(entry, to: &bytes)
            bytes.append(UInt8(ascii: "\n"))
        }
        return Data(bytes)
    }

    /// An entry's manifest line (without its newline): every field that shapes what is restored.
    public static func describe(_ entry: Entry) -> String {
        var bytes: [UInt8] = []
        appendLine(entry, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func appendLine(_ entry: Entry, to bytes: inout [UInt8]) {
        func append(_ text: String) { bytes.append(contentsOf: text.utf8) }
        func quoted(_ text: String) {
            bytes.append(UInt8(ascii: "\""))
            appendEscaped(text, to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        }
        append(entry.kind.rawValue)
        append(" " + String(entry.mode, radix: 8) + " " + String(entry.size) + " " + String(entry.mtime) + " ")
        append(entry.digest?.hex ?? "-")
        append(" ")
        quoted(entry.path)
        if let target = entry.target {
            append(" ")
            quoted(target)
        }
        if let owner = entry.owner {
            append(" u=" + String(owner.uid) + " g=" + String(owner.gid))
            if let user = owner.user {
                append(" U=")
                quoted(user)
            }
            if let group = owner.group {
                append(" G=")
                quoted(group)
            }
        }
        if let hardlink = entry.hardlink {
            append(" h=")
            quoted(hardlink)
        }
        for attribute in entry.xattrs {
            append(" x=")
            quoted(attribute.name)
            append("=" + Data(attribute.value).base64EncodedString())
        }
    }

    /// `text` with quotes, backslashes and control characters escaped as in a JSON string.
    static func appendEscaped(_ text: String, to bytes: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
            default: bytes.append(byte)
            }
        }
    }

    public struct DecodingError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func decode(_ data: Data) throws -> Tree {
        try data.withUnsafeBytes { raw in
            var reader = ManifestReader(raw.bindMemory(to: UInt8.self))
            return Tree(entries: try reader.entries())
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    public static func quote(_ text: String) -> String {
        var bytes = [UInt8(ascii: "\"")]
        appendEscaped(text, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        return String(decoding: bytes, as: UTF8.self)
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
            && lhs.xattrs == rhs.xattrs
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
        var plain = tree
        if plain.entries.contains(where: { $0.source != nil }) {
            for index in plain.entries.indices { plain.entries[index].source = nil }
        }
        memory.remember(plain, as: manifest.digest)
        return Artifact(kind: .tree, digest: manifest.digest, size: tree.totalSize, places: places)
    }

    /// A stored tree (decoded once per run; the object is checked when it is first read).
    public func tree(_ digest: Digest) throws -> Tree {
        if let known = memory.tree(digest) { return known }
        let tree = try Tree.decode(try data(of: digest))
        memory.remember(tree, as: digest)
        return tree
    }

    /// A tree artifact's tree, its files found where it is placed.
    public func tree(_ artifact: Artifact) throws -> Tree {
        try tree(artifact.digest).placed(artifact.places ?? [])
    }
}
