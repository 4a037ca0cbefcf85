import Crypto
import Foundation
import Pipeline

/// `hashes` filter: adds an index that `sha256sum -c` (or sha1sum, sha512sum, md5sum) verifies from the
/// collect point's root. SHA-256 comes free: it is each blob's address. Undone on restore by checking the
/// index against the restored files, naming any that differs.
struct HashesFilter: FilterEngine {
    static let spec = EngineSpec("hashes", .filter,
                                 "Adds an index of file hashes that `sha256sum -c` (or its siblings) verifies.", parameters: [
        ParameterSpec("method", .choice(["sha256", "sha1", "sha512", "md5"]), default: "sha256", "Hash algorithm."),
        ParameterSpec("filename", .string, "Index file name (default SHA256SUMS, SHA1SUMS, SHA512SUMS or MD5SUMS by method)."),
    ])

    let version = "1"
    let alwaysRuns = false
    let method: String
    let filename: String
    let nameSuffix = ""

    init(_ parameters: EngineParameters) throws {
        method = parameters.string("method") ?? "sha256"
        filename = parameters.string("filename") ?? method.uppercased() + "SUMS"
    }

    var summary: String { "hashes (\(method)) → \(filename)" }

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let tree = try TreeAssembler.assemble(context)
            var index: [UInt8] = []
            for entry in tree.files where entry.path != filename {
                guard let digest = entry.digest else { continue }
                let hex = method == "sha256" ? digest.hex : try HashMethod.hex(method) { update in try context.store.read(entry) { update($0) } }
                // sha256sum marks names holding a backslash or newline with a leading backslash.
                let needsEscape = entry.path.contains("\\") || entry.path.contains("\n")
                let name = needsEscape
                    ? entry.path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n") : entry.path
                // A name that is not UTF-8 is written as its bytes, as sha256sum writes and reads it.
                index += Array(((needsEscape ? "\\" : "") + hex + "  ").utf8) + FileName.bytes(name) + [UInt8(ascii: "\n")]
            }
            let blob = try context.store.put(Data(index))
            let mtime = try FirstSeen(context).time(of: blob.digest)
            var entries = tree.entries.filter { $0.path != filename }
            entries.append(Tree.Entry(kind: .file, path: filename, mode: 0o644, size: blob.size, mtime: mtime, digest: blob.digest))
            // The files are where they were: only the index is new.
            return [try context.store.put(Tree(entries: entries), places: TreeAssembler.places(context))]
        }
    }

    func undo(file: String, to output: String, _ context: RestoreContext) throws {
        throw StageFailure("a hashes filter applies to a tree, not to an archive")
    }

    /// Checks the index against the restored files; a mismatch names the file.
    func undo(directory: String, _ context: RestoreContext) throws -> String? {
        guard Beneath.kind(of: filename, in: directory) != nil else {
            throw StageFailure("the restored data has no \(filename) index although the collect point writes one")
        }
        let index = try Beneath.openRegularFile(filename, in: directory)
        var bytes = Data()
        do {
            defer { close(index) }
            try Beneath.read(index, what: filename, cancellation: context.cancellation) { bytes.append(contentsOf: $0) }
        }
        for lineBytes in bytes.split(separator: UInt8(ascii: "\n")) {
            let line = FileName.decode(lineBytes)
            try context.cancellation.check()
            guard let separator = line.range(of: "  ") else { continue }
            // sha256sum escapes names holding a backslash or newline and marks the line with a leading backslash.
            let escaped = line.hasPrefix("\\")
            let expected = String(line[..<separator.lowerBound].drop { $0 == "\\" })
            var path = String(line[separator.upperBound...])
            if escaped { path = path.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\\\", with: "\\") }
            if path.hasPrefix("/") || path.split(separator: "/").contains("..") {
                throw StageFailure("\(filename) names `\(path)`, outside the restored data: the backup is not trustworthy")
            }
            // The tree came from a backup point: a link or a FIFO under an indexed name is refused, never followed.
            let file = try Beneath.openRegularFile(path, in: directory)
            defer { close(file) }
            let actual = try HashMethod.hex(method) { update in
                try Beneath.read(file, what: path, cancellation: context.cancellation) { update($0) }
            }
            guard actual == expected else {
                throw StageFailure("restored file \(path) does not match \(filename): the backup is damaged")
            }
        }
        return filename
    }
}

/// The hash functions of the `hashes` filter, over any stream of bytes.
enum HashMethod {
    /// Hex digest of the bytes `produce` feeds to its argument.
    static func hex(_ method: String, _ produce: ((UnsafeRawBufferPointer) -> Void) throws -> Void) throws -> String {
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
}
