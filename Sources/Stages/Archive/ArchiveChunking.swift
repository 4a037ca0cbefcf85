import Foundation
import Pipeline

/// How a tree's tar stream is cut into frames, each compressed on its own (zstd frames, gzip members, xz
/// and bzip2 streams concatenate into one valid compressed file). A frame's key names exactly the tar bytes
/// it holds, so a frame of an earlier archive with the same key can be copied instead of compressed again.
///
/// Small entries go together, a new frame starting at a directory change once a frame holds 1 MiB (a
/// change in one directory then touches its own frames only) and before a frame would pass 4 MiB; a file
/// of 4 MiB or more is cut into 4 MiB segments of its data, the first with its header, the last with its
/// padding.
struct ArchiveChunk: Sendable {
    enum Content: Sendable {
        /// Whole entries, by index into `ArchiveChunking.entries`.
        case entries(Range<Int>)
        /// Data bytes `data` of one large entry (segment 0 carries the header, the last one the padding).
        case segment(entry: Int, index: Int, data: Range<Int64>, last: Bool)
    }

    let content: Content
    let key: String
}

struct ArchiveChunking: Sendable {
    static let segmentSize: Int64 = 4 << 20
    static let directoryCut: Int64 = 1 << 20

    /// The entries written, in order (the root entry is not).
    let entries: [Tree.Entry]
    /// For each entry, the earlier entry it is written as a hard link to (tar needs the target first).
    let links: [String?]
    let chunks: [ArchiveChunk]

    /// `tag` names everything else that shapes the bytes: the format, the level, this cutting.
    init(_ tree: Tree, tag: String) {
        let entries = tree.entries.filter { !$0.path.isEmpty }
        self.entries = entries
        var written = Set<String>()
        var links: [String?] = []
        for entry in entries {
            links.append(entry.kind == .file ? entry.hardlink.flatMap { written.contains($0) ? $0 : nil } : nil)
            if entry.kind == .file { written.insert(entry.path) }
        }
        self.links = links
        var cut: [ArchiveChunk] = []
        var group: Range<Int> = 0..<0
        var groupBytes: Int64 = 0
        func describe(_ index: Int) -> String {
            Tree.describe(entries[index]) + (links[index].map { " link=" + Tree.quote($0) } ?? "")
        }
        func key(_ lines: [String]) -> String {
            Digest.of(([tag] + lines).joined(separator: "\n")).hex
        }
        func flush() {
            guard !group.isEmpty else { return }
            cut.append(ArchiveChunk(content: .entries(group), key: key(group.map(describe))))
            group = group.upperBound..<group.upperBound
            groupBytes = 0
        }
        func parent(_ path: String) -> Substring { path.lastIndex(of: "/").map { path[..<$0] } ?? "" }
        for index in entries.indices {
            let entry = entries[index]
            let data = entry.kind == .file && links[index] == nil ? entry.size : 0
            if data >= Self.segmentSize {
                flush()
                let count = Int((data + Self.segmentSize - 1) / Self.segmentSize)
                let line = describe(index)
                for segment in 0..<count {
                    let start = Int64(segment) * Self.segmentSize
                    let range = start..<min(data, start + Self.segmentSize)
                    cut.append(ArchiveChunk(content: .segment(entry: index, index: segment, data: range, last: segment == count - 1),
                                               key: key([line, "segment \(segment) of \(count)"])))
                }
                group = index + 1..<index + 1
                continue
            }
            // A header and the data rounded up to tar's 512-byte blocks.
            let bytes = 512 + (data + 511) / 512 * 512
            if !group.isEmpty, groupBytes + bytes > Self.segmentSize
                || (groupBytes >= Self.directoryCut && parent(entry.path) != parent(entries[index - 1].path)) {
                flush()
            }
            group = group.lowerBound..<index + 1
            groupBytes += bytes
        }
        flush()
        chunks = cut
    }
}
