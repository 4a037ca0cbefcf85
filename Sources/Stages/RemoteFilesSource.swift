import Foundation
import Pipeline

/// `remote_files` source: a remote tree pulled into a mirror kept in the stage's state directory (so the
/// next pull transfers only what changed) — with rsync over ssh for `ssh://`, through libcurl for
/// `sftp://` — then walked into a tree like `files`.
struct RemoteFilesSource: StageRunner {
    let version = "1"
    let alwaysRuns = true

    func run(_ context: StageContext) async throws -> [Artifact] {
        let parameters = context.node.parameters
        guard let url = parameters.string("url") else { throw StageFailure("remote_files without a url") }
        let sftp = url.lowercased().hasPrefix("sftp://")
        guard url.lowercased().hasPrefix("ssh://") || sftp else {
            throw StageFailure("remote_files pulls ssh:// (rsync over ssh) or sftp:// URLs; `\(Redaction.maskingURLPassword(url))` is neither")
        }
        let excludes = FilesSource.list(parameters["exclude"])
        return try await context.blocking {
            let mirror = context.stateDirectory.appendingPathComponent("remote_files")
                .appendingPathComponent(context.node.id.replacingOccurrences(of: "/", with: "_")).path
            try FileManager.default.createDirectory(atPath: mirror, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            if sftp {
                try SFTPMirror(options: try TransportOptions(parameters), excludes: try PathPatterns(excludes),
                               cancellation: context.cancellation).mirror(url, into: mirror)
                return [try context.store.put(try FilesSource.tree(of: mirror, context: context))]
            }
            let (target, path) = try SSHOptions.parse(url)
            let ssh = SSHOptions(target, parameters: parameters)
            let rsync = try ExternalTool.locate(["rsync"], package: "rsync")
            try ssh.withCommand(cancellation: context.cancellation) { command in
                var arguments = ["-a", "--delete", "--delete-excluded", "-e", command]
                if geteuid() == 0 { arguments.append("--numeric-ids") }
                arguments += excludes.map { "--exclude=" + $0 }
                arguments += ["--", ssh.destination + ":" + (path.hasSuffix("/") ? path : path + "/"), mirror + "/"]
                try rsync.run(arguments, timeout: parameters.timeout, cancellation: context.cancellation)
            }
            return [try context.store.put(try FilesSource.tree(of: mirror, context: context))]
        }
    }
}
