import Foundation
import Pipeline

/// What the `files` source remembers of each file it read: its stat (size, mtime, ctime, inode), its digest
/// and when it was read. A file whose stat did not change (and that was not modified just before it was
/// read) is not read again. Kept in the journal's `files.stat` namespace, one scope per source; an entry
/// names its digest, so a damaged copy's entry is forgotten with it.
struct StatCache {
    struct Entry: Equatable {
        let size: Int64
        let mtime: Int64
        let ctime: Int64
        let inode: Int64
        let digest: Digest
        /// When the file was read (nanoseconds since the epoch).
        let cachedAt: Int64
    }

    let table: StateTable
    let scope: String

    func load() -> [String: Entry] {
        var result: [String: Entry] = [:]
        for (path, data) in (try? table.entries(scope: scope)) ?? [:] {
            if let entry = Self.decode(data) { result[path] = entry }
        }
        return result
    }

    /// Replaces the scope's entries (nothing is written when nothing changed).
    func replace(_ entries: [String: Entry], previous: [String: Entry]) throws {
        guard entries != previous else { return }
        try table.replace(scope: scope, with: entries.mapValues { (Self.encode($0), [$0.digest]) })
    }

    /// Five little-endian 64-bit numbers, then the digest's 64 hex characters.
    static func encode(_ entry: Entry) -> Data {
        var data = Data(capacity: 104)
        for number in [entry.size, entry.mtime, entry.ctime, entry.inode, entry.cachedAt] {
            withUnsafeBytes(of: number.littleEndian) { data.append(contentsOf: $0) }
        }
        data.append(contentsOf: entry.digest.hex.utf8)
        return data
    }

    static func decode(_ data: Data) -> Entry? {
        guard data.count == 104 else { return nil }
        let numbers = (0..<5).map { index in
            data.subdata(in: index * 8..<index * 8 + 8).withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) }
        }
        guard let digest = Digest(hex: String(decoding: data.suffix(64), as: UTF8.self)) else { return nil }
        return Entry(size: numbers[0], mtime: numbers[1], ctime: numbers[2], inode: numbers[3], digest: digest, cachedAt: numbers[4])
    }
}
