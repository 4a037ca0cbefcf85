import Foundation
import Pipeline
import Stages

/// Restore undoes the filters in reverse order: a backup point's (an encrypted archive) before
/// extraction, then the collect point's on the extracted files (decrypt them, check hash indexes).
struct FilterReversal {
    let pipeline: CompiledPipeline
    let identityFile: String?

    /// The filters between `start` and its first input that is not a filter, in the order they ran.
    func chain(before id: String) -> [StageNode] {
        var filters: [StageNode] = []
        var current = id
        while let edge = pipeline.graph.inputs(of: current).first, let node = pipeline.graph.node(edge.from), node.kind == .filter {
            filters.insert(node, at: 0)
            current = node.id
        }
        return filters
    }

    /// Decrypts the downloaded archive as many times as it was encrypted; returns the clear archive's path.
    func undoBackupPointFilters(_ archive: String, uploadID: String, scratch: String) throws -> String {
        var current = archive
        for filter in chain(before: uploadID).reversed() where filter.engine == "encrypt" {
            let output = current == archive ? scratch : scratch + ".next"
            try AgeFiles.decrypt(current, to: output, identities: try AgeFiles.identities(filter.parameters, identityFile: identityFile))
            if current != archive { rename(output, current) } else { current = output }
        }
        return current
    }

    /// Returns the hash indexes it verified.
    func undoCollectPointFilters(in directory: String, collectPoint: String, cancellation: CancellationFlag) throws -> [String] {
        try undoTreeFilters(chain(before: "collect:\(collectPoint)"), in: directory, cancellation: cancellation)
    }

    /// A backup point's filters on a tree it received (git, restic, synchronize), undone in place.
    func undoBackupPointTreeFilters(in directory: String, uploadID: String, cancellation: CancellationFlag) throws -> [String] {
        try undoTreeFilters(chain(before: uploadID), in: directory, cancellation: cancellation)
    }

    private func undoTreeFilters(_ filters: [StageNode], in directory: String, cancellation: CancellationFlag) throws -> [String] {
        var verified: [String] = []
        for filter in filters.reversed() {
            try cancellation.check()
            switch filter.engine {
            case "hashes": verified.append(try verifyHashIndex(filter, in: directory))
            case "encrypt": try decryptFiles(in: directory, filter)
            default: throw StageFailure("restore cannot undo the \(filter.engine) filter")
            }
        }
        return verified
    }

    /// Every file the filter encrypted (its name ends with the suffix) back to its name, mode and mtime.
    func decryptFiles(in directory: String, _ filter: StageNode) throws {
        let suffix = filter.parameters.string("suffix") ?? ".age"
        let identities = try AgeFiles.identities(filter.parameters, identityFile: identityFile)
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return }
        var encrypted: [String] = []
        while let relative = walker.nextObject() as? String {
            var info = stat()
            guard lstat(directory + "/" + relative, &info) == 0, info.st_mode & S_IFMT == S_IFREG, relative.hasSuffix(suffix) else { continue }
            // Without a suffix, only what is an age file (an index a later filter added is not).
            if suffix.isEmpty && !Self.isAgeFile(directory + "/" + relative) { continue }
            encrypted.append(relative)
        }
        // Shortest first: `x.age.age` becomes `x.age` only after `x.age` became `x`.
        encrypted.sort { ($0.count, $0) < ($1.count, $1) }
        for relative in encrypted {
            let path = directory + "/" + relative
            let clear = String(path.dropLast(suffix.count))
            var info = stat()
            lstat(path, &info)
            try AgeFiles.decrypt(path, to: clear, identities: identities, mode: info.st_mode & 0o7777)
            if clear != path { unlink(path) }
            var times = [info.st_atim, info.st_mtim]
            utimensat(AT_FDCWD, clear, &times, 0)
        }
    }

    static func isAgeFile(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 22)) == Data("age-encryption.org/v1\n".utf8)
    }

    /// Checks a hashes filter's index (SHA256SUMS, …) against the restored files; a mismatch names the file.
    func verifyHashIndex(_ node: StageNode, in directory: String) throws -> String {
        let method = node.parameters.string("method") ?? "sha256"
        let name = node.parameters.string("filename") ?? method.uppercased() + "SUMS"
        guard let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) else {
            throw StageFailure("the restored data has no \(name) index although the collect point writes one")
        }
        for line in text.split(separator: "\n") {
            guard let separator = line.range(of: "  ") else { continue }
            // sha256sum escapes names holding a backslash or newline and marks the line with a leading backslash.
            let escaped = line.hasPrefix("\\")
            let expected = String(line[..<separator.lowerBound].drop { $0 == "\\" })
            var path = String(line[separator.upperBound...])
            if escaped { path = path.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\\\", with: "\\") }
            if path.hasPrefix("/") || path.split(separator: "/").contains("..") {
                throw StageFailure("\(name) names `\(path)`, outside the restored data: the backup is not trustworthy")
            }
            guard let actual = try? HashMethod.hex(method, file: directory + "/" + path), actual == expected else {
                throw StageFailure("restored file \(path) does not match \(name): the backup is damaged")
            }
        }
        return name
    }
}
