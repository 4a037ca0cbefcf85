import Foundation
import Pipeline

/// `ldap` source: slapcat of a local database (by number or suffix) while slapd runs, or ldapsearch
/// of a remote server's user entries over ldap:// or ldaps:// (bind password in a temporary file).
struct LDAPSource: StageRunner {
    let version = "1"
    let alwaysRuns = true

    func run(_ context: StageContext) async throws -> [Artifact] {
        let parameters = context.node.parameters
        let destination = parameters.string("destination") ?? "directory.ldif"
        return try await context.blocking {
            let writer = try context.store.makeWriter()
            let sink: (UnsafeRawBufferPointer) throws -> Void = { chunk in
                try writer.write(chunk)
                context.progress(writer.count)
            }
            if let url = parameters.string("url") {
                try LDAPSearch(parameters, url: url).withArguments { arguments in
                    try ExternalTool.locate(["ldapsearch"], package: "ldap-utils")
                        .run(arguments, timeout: parameters.timeout, cancellation: context.cancellation, stdout: sink)
                }
            } else {
                try ExternalTool.locate(["slapcat"], package: "slapd")
                    .run(Self.slapdArguments(parameters), timeout: parameters.timeout, cancellation: context.cancellation, stdout: sink)
            }
            return [try writer.finish(location: destination)]
        }
    }

    /// `-f FILE` or `-F DIR`, and `-b SUFFIX` or `-n NUMBER` (1 by default): shared by slapcat and slapadd.
    static func slapdArguments(_ parameters: Parameters) -> [String] {
        var arguments: [String] = []
        if let config = parameters.string("slapd_config") {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: config, isDirectory: &isDirectory)
            arguments += [isDirectory.boolValue ? "-F" : "-f", config]
        }
        if let suffix = parameters.string("suffix") {
            arguments += ["-b", suffix]
        } else {
            var number = 1
            if case .int(let value)? = parameters["database"] { number = value }
            arguments += ["-n", String(number)]
        }
        return arguments
    }
}

/// ldapsearch and ldapadd against a server: simple bind, password from a temporary file (-y).
struct LDAPSearch {
    let parameters: Parameters
    let url: String

    init(_ parameters: Parameters, url: String) {
        self.parameters = parameters
        self.url = url
    }

    /// Connection and bind arguments for ldapsearch/ldapadd; the password file is removed afterwards.
    func withConnection<T>(_ body: ([String]) throws -> T) throws -> T {
        var arguments = ["-x", "-H", url]
        guard let bindDN = parameters.string("bind_dn") else { return try body(arguments) }
        arguments += ["-D", bindDN]
        guard let password = try parameters.secretValue("password") else { return try body(arguments) }
        let file = try SecretFile(name: "bind-password", content: password)
        defer { file.remove() }
        return try body(arguments + ["-y", file.path])
    }

    /// The search: every entry under `base` with its user attributes (what ldapadd can load again).
    func withArguments<T>(_ body: ([String]) throws -> T) throws -> T {
        guard let base = parameters.string("base") else { throw StageFailure("ldap source with url needs base (the search base)") }
        return try withConnection { connection in
            try body(connection + ["-LLL", "-o", "ldif-wrap=no", "-b", base, "(objectClass=*)", "*"])
        }
    }
}
