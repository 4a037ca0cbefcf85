import Foundation
import Pipeline
import Testing
import TestSupport
@testable import Planner

/// Secrets reach the stages that need them and stay secrets (the renderings are checked end to end in
/// the CLI tests).
@Suite struct SecretTests {
    static let yaml = """
        collect_points:
          www:
            engine: files
            path: /var/backups/www
            sources:
              db: {engine: postgresql, database: app, password: hunter2-inline}
              db2: {engine: mysql, database: app, password: "${env:PA_TEST_SECRET}"}
        backup_points:
          dav:
            engine: archive
            url: "https://bob:url-password-42@dav.example.org/{name}.tar.gz"
            s3_secret_key: "${file:/nonexistent/secret}"
        """

    @Test func secretsStaySecretsAndUnreadableOnesAreWarnings() throws {
        let pipeline = try Fixtures.compile(Self.yaml, environment: ["PA_TEST_SECRET": "from-the-environment-77"])
        for warning in pipeline.warnings.map(\.description) {
            #expect(!warning.contains("hunter2-inline"))
            #expect(!warning.contains("from-the-environment-77"))
            #expect(!warning.contains("url-password-42"))
        }
        // The stage still receives the real values.
        let db2 = try #require(pipeline.node("dump:www/db2")?.parameters["password"])
        guard case .secret(let secret) = db2 else { Issue.record("not a secret"); return }
        #expect(try secret.reveal(environment: ["PA_TEST_SECRET": "from-the-environment-77"]) == "from-the-environment-77")
        let unreadable = pipeline.warnings.filter { $0.message.contains("cannot read") }
        #expect(unreadable.count == 1)
        #expect(unreadable.first?.message.contains("/nonexistent/secret") == true)
        // An S3 key on a WebDAV URL is unused: a warning of its own.
        #expect(pipeline.warnings.contains { $0.message.contains("`s3_secret_key` is not used by https:// URLs") })
    }

    @Test func passwordFileBecomesAFileSecretReadFromItsFirstLine() throws {
        let scratch = try TemporaryDirectory("pa-secret")
        let file = scratch.url.appendingPathComponent("password")
        try "s3cr3t-line\nsecond line\n".write(to: file, atomically: false, encoding: .utf8)
        let pipeline = try Fixtures.compile(Fixtures.minimal + "\n      db: {engine: postgresql, password_file: \(file.path)}\n")
        guard case .secret(let secret)? = pipeline.node("dump:www/db")?.parameters["password"] else {
            Issue.record("password_file did not become a secret")
            return
        }
        #expect(try secret.reveal(environment: [:]) == "s3cr3t-line")
        #expect(pipeline.warnings.isEmpty)
    }

    @Test func maskingURLPasswordsAndQueryValues() {
        #expect(Redaction.maskingURLSecrets("ftp://u:p@h/x") == "ftp://u:***@h/x")
        #expect(Redaction.maskingURLSecrets("sftp://u@h/x") == "sftp://u@h/x")
        #expect(Redaction.maskingURLSecrets("https://u:p@w@h/x?y=@") == "https://u:***@h/x?y=***")
        #expect(Redaction.maskingURLSecrets("curl -s 'https://h/p?token=t0k&x=1#f' && true") == "curl -s 'https://h/p?token=***&x=***#f' && true")
        #expect(Redaction.isSensitiveName("Authorization") && Redaction.isSensitiveName("PGPASSWORD") && !Redaction.isSensitiveName("Accept"))
        #expect(Redaction.maskingURLSecrets("/plain/path") == "/plain/path")
    }
}

/// A transport parameter the URL's scheme does not use is a warning: the user meant something by it.
@Suite struct IgnoredParameterTests {
    @Test func aPasswordOnSFTPOrAnS3KeyOnWebDAVIsAWarning() throws {
        let pipeline = try Fixtures.compile("""
            collect_points:
              www: {engine: files, path: /c, sources: {a: {engine: files, path: /a}}}
            backup_points:
              ssh: {engine: archive, url: "sftp://u@h/b/{name}.tar.gz", password: "pw"}
              dav: {engine: archive, url: "https://h/b/{name}.tar.gz", username: u, password: "pw", s3_region: eu-west-1}
              vault: {engine: restic, repository: /srv/restic, password_file: /etc/restic.pw}
            """)
        let messages = pipeline.warnings.map(\.message)
        #expect(messages.contains { $0.contains("`password` is not used by sftp:// URLs") }, "\(messages)")
        #expect(messages.contains { $0.contains("`s3_region` is not used by https:// URLs") }, "\(messages)")
        #expect(!messages.contains { $0.contains("`password` is not used by https://") }, "\(messages)")
        #expect(!messages.contains { $0.contains("vault") }, "restic's password is its repository's: \(messages)")
    }
}
