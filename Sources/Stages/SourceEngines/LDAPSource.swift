import Foundation
import Pipeline

/// `ldap` source: slapcat of a local database (by number or suffix) while slapd runs, or ldapsearch
/// of a remote server's user entries over ldap:// or ldaps:// (bind password in a temporary file).
/// Put back with slapadd into an empty, stopped local database, or ldapadd to a server.
struct LDAPSource: SourceEngine {
    static let spec = EngineSpec("ldap", .source, "An OpenLDAP directory: slapcat on the server, or ldapsearch over ldap:// or ldaps://.",
                                 parameters: [
        ParameterSpec("database", .int(0...99), "slapcat database number (-n); 1 when neither suffix nor url is set."),
        ParameterSpec("suffix", .string, "slapcat database suffix (-b), instead of a number."),
        ParameterSpec("slapd_config", .path, "slapd configuration file or directory for slapcat (-f / -F)."),
        ParameterSpec("url", .url, "ldap:// or ldaps:// URL of a remote server (uses ldapsearch)."),
        ParameterSpec("bind_dn", .string, "DN to bind as with url."),
        ParameterSpec("password", .secret, "Bind password, passed in a temporary file (-y)."),
        ParameterSpec("password_file", .path, "File whose first line is the bind password."),
        ParameterSpec("base", .string, "Search base with url."),
    ], exclusive: [["database", "suffix", "url"], ["password", "password_file"]])

    let version = "1"
    let alwaysRuns = true
    let local: Slapd
    let url: String?
    let bindDN: String?
    let password: Secret?
    let base: String?
    let timeout: TimeInterval?

    /// Where slapcat and slapadd find the database: `-f FILE` or `-F DIR`, and `-b SUFFIX` or `-n NUMBER`.
    struct Slapd: Sendable {
        var config: String?
        var suffix: String?
        var number: Int

        var arguments: [String] {
            var arguments: [String] = []
            if let config {
                var isDirectory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: config, isDirectory: &isDirectory)
                arguments += [isDirectory.boolValue ? "-F" : "-f", config]
            }
            return arguments + (suffix.map { ["-b", $0] } ?? ["-n", String(number)])
        }
    }

    init(_ parameters: EngineParameters) throws {
        local = Slapd(config: parameters.string("slapd_config"), suffix: parameters.string("suffix"), number: parameters.int("database") ?? 1)
        url = parameters.string("url")
        bindDN = parameters.string("bind_dn")
        password = parameters.secret("password")
        base = parameters.string("base")
        timeout = parameters.seconds("timeout").map(TimeInterval.init)
        if url != nil && base == nil {
            throw ConfigurationError("an ldap source with url needs base (the search base)", parameter: "base")
        }
    }

    func defaultDestination(source name: String) -> String { "\(name).ldif" }
    var resourceKeys: [String] { ["ldap:\(url ?? "local")"] }
    var summary: String { url.map { "ldapsearch \(Redaction.maskingURLSecrets($0))" } ?? "slapcat" }
    var putBackOrder: Int { 40 }

    func run(_ context: StageContext) async throws -> [Artifact] {
        try await context.blocking { [self] in
            let writer = try context.store.makeWriter()
            let sink: (UnsafeRawBufferPointer) throws -> Void = { chunk in
                try writer.write(chunk)
                context.progress(writer.count)
            }
            if let url, let base {
                try withConnection(url, context.secrets) { connection in
                    try ExternalTool.locate(["ldapsearch"], package: "ldap-utils")
                        .run(connection + ["-LLL", "-o", "ldif-wrap=no", "-b", base, "(objectClass=*)", "*"], timeout: timeout,
                             cancellation: context.cancellation, stdout: sink)
                }
            } else {
                try ExternalTool.locate(["slapcat"], package: "slapd")
                    .run(local.arguments, timeout: timeout, cancellation: context.cancellation, stdout: sink)
            }
            return [try writer.finish()]
        }
    }

    /// Connection and bind arguments for ldapsearch/ldapadd; the password file is removed afterwards.
    func withConnection<T>(_ url: String, _ secrets: Secrets, _ body: ([String]) throws -> T) throws -> T {
        var arguments = ["-x", "-H", url]
        guard let bindDN else { return try body(arguments) }
        arguments += ["-D", bindDN]
        guard let password else { return try body(arguments) }
        let file = try SecretFile(name: "bind-password", content: try secrets.reveal(password))
        defer { file.remove() }
        return try body(arguments + ["-y", file.path])
    }

    func putBack(_ data: String, _ request: PutBackRequest, _ context: RestoreContext) throws -> String {
        // --into: an ldap(s):// server for ldapadd, or another slapd configuration for slapadd.
        if let into = request.into, !into.hasPrefix("ldap://") && !into.hasPrefix("ldaps://") {
            // The configuration named with --into is the target the user chose.
            var target = local
            target.config = into
            return try slapadd(data, target, context)
        }
        if let url = request.into ?? url {
            var existing = 0
            try withConnection(url, context.secrets) { connection in
                do {
                    try ExternalTool.locate(["ldapadd"], package: "ldap-utils")
                        .run(connection + (request.replace ? ["-c"] : []) + ["-f", "/dev/stdin"], timeout: timeout,
                             cancellation: context.cancellation, stdin: try ExternalTool.input(data))
                } catch let failure as StageFailure where request.replace {
                    // With --replace, entries that are already there are left as they are; anything else fails.
                    let errors = (failure.stderr ?? "").split(separator: "\n").filter { $0.hasPrefix("ldap_add:") }
                    guard !errors.isEmpty, errors.allSatisfy({ $0.contains("Already exists") }) else { throw failure }
                    existing = errors.count
                }
            }
            return "added the entries of \(data) to \(url) with ldapadd" + (existing > 0 ? " (\(existing) already there, left as they are)" : "")
        }
        guard request.replace else {
            throw StageFailure("slapadd loads into the local database, which must be empty and slapd stopped: give another "
                               + "configuration with --into, or add --replace once slapd is stopped and the database emptied (nothing was changed)")
        }
        return try slapadd(data, local, context)
    }

    private func slapadd(_ data: String, _ target: Slapd, _ context: RestoreContext) throws -> String {
        try ExternalTool.locate(["slapadd"], package: "slapd")
            .run(target.arguments + ["-q", "-l", "/dev/stdin"], timeout: timeout, cancellation: context.cancellation,
                 stdin: try ExternalTool.input(data))
        return "loaded \(data) with slapadd (start slapd again, and check the files' owner)"
    }
}
