import Foundation
import Pipeline

/// `gitlab` backup point: the project is found or created (private) through the GitLab API v4, then
/// pushed to like `git`, over HTTPS (user `oauth2`, the token as password) or SSH.
struct GitLabBackupPoint: BackupPointEngine {
    static let spec = EngineSpec("gitlab", .backupPoint, "Creates the project through the GitLab API v4 when missing, then pushes to it.",
                                 parameters: [
        ParameterSpec("gitlab_url", .url, required: true, "GitLab base URL, such as https://gitlab.example.org/."),
        ParameterSpec("project", .string, required: true, "namespace/project; should depend on {name}."),
        ParameterSpec("token", .secret, "Personal access token (api scope)."),
        ParameterSpec("token_file", .path, "File whose first line is the token."),
        ParameterSpec("transport", .choice(["https", "ssh"]), default: "https", "How to push."),
        ParameterSpec("ca_cert", .path, "CA bundle for the GitLab server."),
    ] + GitBackupPoint.commitParameters + TransportParameters.ssh,
        exclusive: [["token", "token_file"], ["known_hosts", "host_key_sha256"]], oneOf: [["token", "token_file"]])

    let push: GitPushWork

    init(_ parameters: EngineParameters, pair: Pair) throws {
        let project = GitLabProject(base: try parameters.required("gitlab_url"), path: try parameters.required("project"),
                                    token: parameters.secret("token"), caCert: parameters.string("ca_cert"),
                                    overSSH: parameters.string("transport") == "ssh")
        guard project.path.split(separator: "/").count >= 2 else {
            throw ConfigurationError("`project` must be namespace/name, not `\(project.path)`", parameter: "project")
        }
        push = try GitPushWork(parameters, pair: pair, remote: .gitlab(project))
    }

    var shape: BackupShape { push.shape(summary: "gitlab → \(push.remoteDescription)") }

    func catalog(_ context: RestoreContext) throws -> Catalog { try push.catalog(context) }

    func fetch(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext) throws -> Fetched {
        try push.fetch(backup, into: directory, context)
    }

    func verify(_ backup: CatalogEntry, into directory: String, _ context: RestoreContext) throws -> Verification {
        try push.verify(backup, into: directory, context)
    }
}

/// A GitLab project, and where to push to it: HTTPS with the token as password, or SSH with the key.
struct GitLabProject: Sendable {
    let base: String
    let path: String
    let token: Secret?
    let caCert: String?
    let overSSH: Bool

    func remote(_ secrets: Secrets, create: Bool, cancellation: CancellationFlag) throws -> (url: String, password: String?)? {
        guard let token else { throw StageFailure("the gitlab backup point has no token") }
        let revealed = try secrets.reveal(token)
        guard let urls = try GitLabAPI(url: base, token: revealed, caCert: caCert).project(path, create: create, cancellation: cancellation) else {
            return nil
        }
        if overSSH { return (urls.ssh, nil) }
        guard var components = URLComponents(string: urls.http) else { throw StageFailure("odd clone URL \(urls.http)") }
        // The token goes only where the API is: a clone URL on another scheme, server or port is refused.
        guard let api = URLComponents(string: base), components.scheme?.lowercased() == api.scheme?.lowercased(),
              components.host?.lowercased() == api.host?.lowercased(), components.port == api.port else {
            throw StageFailure("GitLab gave the clone URL \(TerminalText.escaped(urls.http)), not on \(base): the token is not sent there; "
                               + "set GitLab's external_url to the address polyarchiv uses, or push over SSH")
        }
        components.user = "oauth2"
        return (components.string ?? urls.http, revealed)
    }
}
