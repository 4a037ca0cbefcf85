import Foundation
import Pipeline

/// `synchronize` backup point: the remote side becomes a mirror of the collect point. A folder or
/// `ssh://` URL is mirrored with rsync (each file written to a temporary name and renamed); an
/// `http(s)://` WebDAV URL gets only the files that changed since the last run (each PUT under a
/// temporary name and MOVEd), and loses the ones that left. Either way a `.polyarchiv-tree` manifest
/// is written last, so a fresh machine can restore the mirror.
struct SynchronizeBackupPoint: StageRunner {
    let version = "1"
    let alwaysRuns = false
    static let manifest = ".polyarchiv-tree"

    func run(_ context: StageContext) async throws -> [Artifact] {
        let parameters = context.node.parameters
        guard let url = parameters.string("url") else { throw StageFailure("synchronize without a url") }
        let delete = parameters["delete"] != .bool(false)
        return try await context.blocking {
            let tree = try TreeAssembler.assemble(context.inputs, store: context.store, journal: context.journal, date: context.date)
            let treeArtifact = try context.store.put(tree)
            if url.hasPrefix("http://") || url.hasPrefix("https://") {
                try Self.webdav(tree, to: url, delete: delete, context: context)
                let transport = try Transports.make(url, options: try TransportOptions(parameters))
                try transport.write(tree.encoded(), to: Self.join(url, Self.manifest), cancellation: context.cancellation)
            } else {
                let local = try Self.materialized(tree, context: context)
                try tree.encoded().write(to: URL(fileURLWithPath: local + "/" + Self.manifest))
                try Self.rsync(from: local, to: url, delete: delete, parameters: parameters, cancellation: context.cancellation)
            }
            try ArchiveUpload.record(url, digest: treeArtifact.digest, size: tree.totalSize, context: context)
            return [Artifact(kind: .remote, digest: treeArtifact.digest, size: tree.totalSize, location: url)]
        }
    }

    static func join(_ url: String, _ name: String) -> String { (url.hasSuffix("/") ? url : url + "/") + name }

    /// The tree as files in the stage's state directory (unchanged files stay put between runs).
    static func materialized(_ tree: Tree, context: StageContext) throws -> String {
        let path = context.stateDirectory.appendingPathComponent("synchronize")
            .appendingPathComponent(context.node.id.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ":", with: "_")).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try TreeMaterializer.materialize(tree, at: path, store: context.store, cancellation: context.cancellation, progress: context.progress)
        return path
    }

    /// rsync to a folder (`file://` or a path) or over ssh, host key checked.
    static func rsync(from local: String, to url: String, delete: Bool, parameters: Parameters, cancellation: CancellationFlag) throws {
        let rsync = try ExternalTool.locate(["rsync"], package: "rsync")
        // --checksum: a file rewritten with the same size within the same second still differs.
        var arguments = ["-a", "--checksum", "--exclude=/" + TreeMaterializer.ownerMark]
        if delete { arguments.append("--delete") }
        if geteuid() == 0 { arguments.append("--numeric-ids") }
        if url.lowercased().hasPrefix("ssh://") {
            let (target, path) = try SSHOptions.parse(url)
            let ssh = SSHOptions(target, parameters: parameters)
            try ssh.withCommand(cancellation: cancellation) { command in
                // The remote directory is created first (rsync creates only the last level).
                try rsync.run(arguments + ["-e", command, "--rsync-path=mkdir -p '\(path.replacingOccurrences(of: "'", with: "'\\''"))' && rsync",
                                           "--", local + "/", ssh.destination + ":" + (path.hasSuffix("/") ? path : path + "/")],
                              timeout: parameters.timeout, cancellation: cancellation)
            }
        } else {
            let path = FileTransport.path(url)
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try rsync.run(arguments + ["--", local + "/", path.hasSuffix("/") ? path : path + "/"], timeout: parameters.timeout,
                          cancellation: cancellation)
        }
    }

    /// Only what changed since the remote manifest (or everything, the first time) goes up; what left is deleted.
    static func webdav(_ tree: Tree, to url: String, delete: Bool, context: StageContext) throws {
        let transport = try Transports.make(url, options: try TransportOptions(context.node.parameters))
        let previous = (try? transport.read(join(url, manifest), cancellation: context.cancellation)).flatMap { $0 }.flatMap { try? Tree.decode($0) }
        let before = Dictionary((previous?.files ?? []).map { ($0.path, $0.digest) }, uniquingKeysWith: { first, _ in first })
        var sent: Int64 = 0
        for entry in tree.files {
            guard let digest = entry.digest, before[entry.path] != digest else { continue }
            try transport.upload(context.store.path(of: digest), to: join(url, percentEncoded(entry.path)), identity: digest.hex,
                                 cancellation: context.cancellation)
            sent += entry.size
            context.progress(sent)
        }
        if delete {
            let current = Set(tree.files.map(\.path))
            for path in before.keys where !current.contains(path) {
                try transport.delete(join(url, percentEncoded(path)), cancellation: context.cancellation)
            }
        }
    }

    static func percentEncoded(_ path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#;")
        return path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
    }
}
