import Foundation
import Pipeline

/// What a backup point holds of one collect point, read from the backup point itself (no local state):
/// an archive backup point's metadata document, a git remote's commits, a restic repository's snapshots.
public enum BackupCatalog {
    /// Where the list comes from, and the backups, oldest first. nil when the engine keeps no list.
    public static func backups(_ upload: StageNode, cancellation: CancellationFlag) throws -> (place: String, backups: [BackupMetadata.Backup])? {
        let parameters = upload.parameters
        switch upload.engine {
        case "git", "gitlab":
            var parameters = parameters
            var url = parameters.string("url") ?? ""
            if upload.engine == "gitlab" {
                guard let remote = try GitLabAPI.remote(parameters, create: false, cancellation: cancellation) else { return nil }
                (url, parameters) = remote
            }
            return try withClone(url, parameters: parameters, cancellation: cancellation) { repository in
                guard var commit = try repository.commit(onBranch: parameters.string("branch") ?? "main") else { return (url, []) }
                var backups: [BackupMetadata.Backup] = []
                while true {
                    let info = try repository.info(commit)
                    backups.append(.init(location: url + "#" + GitRepository.hex(commit), digest: Digest.of(""), size: 0, created: info.time,
                                         host: "git"))
                    guard let parent = info.parents.first else { break }
                    commit = parent
                }
                return (url, backups.reversed())
            }
        case "synchronize":
            guard let url = parameters.string("url"), let tree = try SynchronizeRestore.manifest(url, parameters: parameters, cancellation: cancellation) else {
                return (parameters.string("url") ?? "", [])
            }
            let newest = tree.entries.map(\.mtime).max() ?? 0
            return (url, [.init(location: url, digest: Digest.of(tree.encoded()), size: tree.totalSize,
                                created: Date(timeIntervalSince1970: Double(newest) / 1e9), host: "mirror")])
        case "restic":
            guard let collectPoint = upload.collectPoint else { return nil }
            let restic = try Restic(parameters)
            let snapshots = try restic.withEnvironment { try restic.snapshots(of: collectPoint, $0, cancellation: cancellation) }
            return (parameters.string("repository").map { Redaction.maskingURLPassword($0) } ?? "restic",
                    snapshots.map { .init(location: "restic:" + $0.id, digest: Digest.of(""), size: 0, created: $0.time, host: $0.hostname ?? "") })
        default:
            guard let url = parameters.string("metadata_url") else { return nil }
            return (url, try BackupMetadata.read(url, parameters: parameters, cancellation: cancellation)?.backups ?? [])
        }
    }

    /// For git and restic backup points: the backup's tree into `directory` (empty). Returns the entries written.
    public static func fetchTree(_ upload: StageNode, _ backup: BackupMetadata.Backup, into directory: String,
                                 cancellation: CancellationFlag) throws -> Int {
        let parameters = upload.parameters
        switch upload.engine {
        case "git", "gitlab":
            var parameters = parameters
            var url = parameters.string("url") ?? ""
            if upload.engine == "gitlab", let remote = try GitLabAPI.remote(parameters, create: false, cancellation: cancellation) {
                (url, parameters) = remote
            }
            guard let commit = backup.location.split(separator: "#").last else {
                throw StageFailure("odd git backup location \(backup.location)")
            }
            try withClone(url, parameters: parameters, cancellation: cancellation) { repository in
                try repository.checkout(try repository.resolve(String(commit)), into: directory)
            }
        case "restic":
            let id = String(backup.location.dropFirst("restic:".count))
            let restic = try Restic(parameters)
            let scratch = directory + "/.polyarchiv-restic"
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            try restic.withEnvironment { environment in
                let snapshot = try restic.snapshots(of: upload.collectPoint ?? "", environment, cancellation: cancellation).first { $0.id == id }
                guard let path = snapshot?.paths.first else { throw StageFailure("restic snapshot \(id) is gone") }
                _ = try restic.run(["restore", id, "--target", scratch], environment, cancellation: cancellation)
                // A backup of `.` restores at the top; one of an absolute path under that path.
                let restored = FileManager.default.fileExists(atPath: scratch + path) ? scratch + path : scratch
                for name in try FileManager.default.contentsOfDirectory(atPath: restored) {
                    try FileManager.default.moveItem(atPath: restored + "/" + name, toPath: directory + "/" + name)
                }
            }
        case "synchronize":
            try SynchronizeRestore.fetch(parameters.string("url") ?? "", parameters: parameters, into: directory, cancellation: cancellation)
        default:
            throw StageFailure("\(upload.engine) backups are archives")
        }
        return FileManager.default.enumerator(atPath: directory)?.allObjects.count ?? 0
    }

    private static func withClone<T>(_ url: String, parameters: Parameters, cancellation: CancellationFlag,
                                     _ body: (GitRepository) throws -> T) throws -> T {
        // 0700: the clone holds the backup in clear.
        let scratch = try SecretFile(name: "clone.git", content: "")
        defer {
            try? FileManager.default.removeItem(atPath: scratch.path)
            scratch.remove()
        }
        unlink(scratch.path)
        let repository = try GitPush(parameters).clone(url, into: scratch.path, cancellation: cancellation)
        return try body(repository)
    }
}
