import Foundation
import Pipeline

/// `restore --path GLOB…`: once the tree is whole and checked (every filter undone, hashes verified), what
/// no pattern matches is removed from the partial directory, before it takes its final name. A directory
/// that matches is kept whole; one that only holds matches keeps those. Patterns are the exclude syntax
/// (`*.conf` at any depth, `site/img/` anchored, `**` across directories).
struct RestoredTreeSelection: Sendable {
    let patterns: PathPatterns
    let texts: [String]

    init?(_ texts: [String]) throws {
        guard !texts.isEmpty else { return nil }
        self.texts = texts
        patterns = try PathPatterns(texts)
    }

    /// Keeps only what matches; a selection that matches nothing is an error (nothing takes a final name).
    func apply(to root: String) throws {
        guard try prune(root, relative: "") else {
            throw StageFailure("no path of the backup matches " + texts.map { "`\($0)`" }.joined(separator: ", ")
                               + "; `polyarchiv restore --target DIR` without --path restores everything to look at")
        }
    }

    /// Whether anything under `directory` was kept.
    private func prune(_ directory: String, relative: String) throws -> Bool {
        var kept = false
        for name in try DirectoryWalk.names(in: directory) {
            let path = directory + "/" + name
            let system = FileName.system(path)
            let relativePath = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(system, &info) == 0 else { throw StageFailure("cannot read \(TerminalText.escaped(path)): \(FileIO.lastError)") }
            let isDirectory = info.st_mode & S_IFMT == S_IFDIR
            if patterns.matches(relativePath, isDirectory: isDirectory) {
                kept = true
            } else if isDirectory {
                if try prune(path, relative: relativePath) {
                    kept = true
                } else if rmdir(system) != 0 {
                    throw StageFailure("cannot remove \(path): \(FileIO.lastError)")
                }
            } else if unlink(system) != 0 {
                throw StageFailure("cannot remove \(path): \(FileIO.lastError)")
            }
        }
        return kept
    }
}
