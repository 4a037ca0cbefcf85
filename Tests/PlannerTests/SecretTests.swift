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
        #expect(pipeline.warnings.count == 1)
        #expect(pipeline.warnings.first?.message.contains("/nonexistent/secret") == true)
    }

    @Test func passwordFileBecomesAFileSecretReadFromItsFirstLine() throws {
        let scratch = try TemporaryDirectory("pa-secret")
        let file = scratch.url.appendingPathComponent("password")
        try "s3cr3t-line\nsecond line\n".write(to: file, atomically: true, encoding: .utf8)
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
