import Foundation
import Pipeline

/// `remote_files` source: a remote tree pulled into a mirror kept in the stage's state directory (so the
/// next pull transfers only what changed) — with rsync over ssh for `ssh://`, through libcurl for
/// `sftp://` — then walked into a tree like `files`.
struct RemoteFilesSource: SourceEngine {
    static let spec = EngineSpec("remote_files", .source, "A remote directory tree pulled with rsync over ssh, or over sftp.",
                                 parameters: [
        ParameterSpec("url", .url, required: true, "ssh://user@host[:port]/path (rsync over ssh) or sftp://user@host[:port]/path (libcurl)."),
        ParameterSpec("exclude", .list, "Globs of paths to leave out."),
    ] + TransportParameters.ssh, exclusive: [["known_hosts", "host_key_sha256"]])

    let version = "1"
    let alwaysRuns = true
    let url: String
    let excludes: [String]
    let ssh: SSHSettings
    let timeout: TimeInterval?
    let transport: TransportSettings

    init(_ parameters: EngineParameters) throws {
        var url: String = try parameters.required("url")
        var transport = try TransportSettings(parameters)
        try transport.takePassword(from: &url, parameter: "url")
        self.url = url
        self.transport = transport
        let scheme = url.lowercased()
        guard scheme.hasPrefix("ssh://") || scheme.hasPrefix("sftp://") else {
            throw ConfigurationError("remote_files pulls ssh:// (rsync over ssh) or sftp:// URLs; `\(Redaction.maskingURLSecrets(url))` is neither",
                                     parameter: "url")
        }
        excludes = parameters.list("exclude")
        ssh = SSHSettings(parameters)
        timeout = parameters.seconds("timeout").map(TimeInterval.init)
    }

    func defaultDestination(source name: String) -> String { "\(name)/" }
    var resourceKeys: [String] { TransportParameters.hostKey(url) }
    var movesAsideInPlace: Bool { true }
    var summary: String { "remote files \(Redaction.maskingURLSecrets(url))" }

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let mirror = context.stateDirectory.appendingPathComponent("remote_files")
                .appendingPathComponent(context.node.id.path.joined(separator: "_")).path
            try FileManager.default.createDirectory(atPath: mirror, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            if url.lowercased().hasPrefix("sftp://") {
                try SFTPMirror(options: try transport.options(context.secrets), excludes: try PathPatterns(excludes),
                               cancellation: context.cancellation).mirror(url, into: mirror)
                return [try context.store.put(try FilesSource.tree(of: mirror, context: context, copying: false), placedAt: mirror)]
            }
            let (target, path) = try SSHOptions.parse(url)
            let command = SSHOptions(target, settings: ssh)
            let rsync = try ExternalTool.locate(["rsync"], package: "rsync")
            try command.withCommand(cancellation: context.cancellation) { line in
                var arguments = ["-a", "--delete", "--delete-excluded", "-e", line]
                if geteuid() == 0 { arguments.append("--numeric-ids") }
                arguments += excludes.map { "--exclude=" + $0 }
                arguments += ["--", command.destination + ":" + (path.hasSuffix("/") ? path : path + "/"), mirror + "/"]
                try rsync.run(arguments, timeout: timeout, cancellation: context.cancellation)
            }
            return [try context.store.put(try FilesSource.tree(of: mirror, context: context, copying: false), placedAt: mirror)]
        }
    }

    func putBack(_ data: String, _ request: PutBackRequest, _ context: RestoreContext) throws -> String {
        guard let into = request.into else {
            return "the files of \(Redaction.maskingURLSecrets(url)) are in \(data) (polyarchiv does not push them back to the "
                + "remote host; copy them there, or give --into DIRECTORY)"
        }
        return try InPlace.put(data, at: into, date: request.date)
    }
}
