import Crypto
import Foundation
import Pipeline

/// `hashes` filter: adds an index that `sha256sum -c` (or sha1sum, sha512sum, md5sum) verifies from the
/// collect point's root. SHA-256 comes free: it is each blob's address.
struct HashesFilter: StageRunner {
    let version = "1"
    let alwaysRuns = false

    func run(_ context: StageContext) async throws -> [Artifact] {
        let method = context.node.parameters.string("method") ?? "sha256"
        let filename = context.node.parameters.string("filename") ?? method.uppercased() + "SUMS"
        return try await context.blocking {
            let tree = try TreeAssembler.assemble(context.inputs, store: context.store, journal: context.journal, date: context.date)
            var index = ""
            for entry in tree.files where entry.path != filename {
                guard let digest = entry.digest else { continue }
                let hex = method == "sha256" ? digest.hex : try Self.hash(digest, method: method, store: context.store)
                // sha256sum marks names holding a backslash or newline with a leading backslash.
                let needsEscape = entry.path.contains("\\") || entry.path.contains("\n")
                let name = needsEscape
                    ? entry.path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n") : entry.path
                index += (needsEscape ? "\\" : "") + hex + "  " + name + "\n"
            }
            let blob = try context.store.put(Data(index.utf8))
            let mtime = try context.journal.firstSeen(blob.digest, at: context.date)
            var entries = tree.entries.filter { $0.path != filename }
            entries.append(Tree.Entry(kind: .file, path: filename, mode: 0o644, size: blob.size, mtime: mtime, digest: blob.digest))
            return [try context.store.put(Tree(entries: entries))]
        }
    }

    static func hash(_ digest: Pipeline.Digest, method: String, store: ContentStore) throws -> String {
        try HashMethod.hex(method) { update in try store.read(digest) { update($0) } }
    }
}

/// The hash functions of the `hashes` filter, over any stream of bytes.
public enum HashMethod {
    /// Hex digest of the bytes `produce` feeds to its argument.
    public static func hex(_ method: String, _ produce: ((UnsafeRawBufferPointer) -> Void) throws -> Void) throws -> String {
        func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 { bytes.map { String(format: "%02x", $0) }.joined() }
        switch method {
        case "sha1":
            var hasher = Insecure.SHA1()
            try produce { hasher.update(bufferPointer: $0) }
            return hex(hasher.finalize())
        case "md5":
            var hasher = Insecure.MD5()
            try produce { hasher.update(bufferPointer: $0) }
            return hex(hasher.finalize())
        case "sha512":
            var hasher = SHA512()
            try produce { hasher.update(bufferPointer: $0) }
            return hex(hasher.finalize())
        case "sha256":
            var hasher = SHA256()
            try produce { hasher.update(bufferPointer: $0) }
            return hex(hasher.finalize())
        default:
            throw StageFailure("unknown hash method \(method)")
        }
    }

    /// Hex digest of a file's content.
    public static func hex(_ method: String, file path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw StageFailure("cannot read \(path)") }
        defer { try? handle.close() }
        return try hex(method) { update in
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { chunk.withUnsafeBytes { update($0) } }
        }
    }
}
