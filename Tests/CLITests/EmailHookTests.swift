import Foundation
import Testing
import TestSupport

/// The email hook against a real SMTP server on loopback (aiosmtpd): plain with AUTH, STARTTLS, smtps://.
@Suite(.serialized) struct EmailHookTests {
    /// A sandbox whose collect point runs `command` and mails through the server at PORT.
    func sandbox(command: String = "echo ok", hook: String) throws -> Sandbox {
        let sandbox = try Sandbox()
        try FileManager.default.createDirectory(atPath: sandbox.path("mail"), withIntermediateDirectories: true)
        try sandbox.write("smtp-password", "s3cret-Mail!\n")
        try sandbox.configure("""
            collect_points:
              box:
                engine: files
                path: $ROOT/collect
                sources: {x: {engine: command, command: "\(command)"}}
                hooks:
                  - \(hook)
            """)
        return sandbox
    }

    func configure(_ sandbox: Sandbox, port: Int) throws {
        let text = try String(contentsOfFile: sandbox.config, encoding: .utf8)
        try text.replacingOccurrences(of: "PORT", with: String(port)).write(toFile: sandbox.config, atomically: false, encoding: .utf8)
    }

    /// A self-signed certificate for 127.0.0.1: (certificate, key).
    func certificate(_ sandbox: Sandbox) throws -> (String, String) {
        let cert = sandbox.path("cert.pem"), key = sandbox.path("key.pem")
        let made = try Sandbox.shell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                                     + "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout '\(key)' -out '\(cert)' 2>&1")
        try #require(made.status == 0, "\(made.output)")
        return (cert, key)
    }

    /// The received messages, decoded by Python's email package: envelope headers, subject, body.
    func received(_ sandbox: Sandbox) throws -> [String] {
        let files = try FileManager.default.contentsOfDirectory(atPath: sandbox.path("mail")).filter { $0.hasSuffix(".eml") }.sorted()
        return try files.map { name in
            let decoded = try Sandbox.shell("""
                python3 -c 'import email, sys; from email import policy
                m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
                print("\\n".join(f"{k}: {v}" for k, v in m.items())); print(); print(m.get_content())' '\(sandbox.path("mail/" + name))'
                """)
            return decoded.output
        }
    }

    @Test func aMessageReachesEveryRecipientWithTheStatusAndLog() throws {
        let sandbox = try sandbox(hook: """
            {engine: email, events: [backup_success, backup_error], smtp_url: "smtp://127.0.0.1:PORT", to: [ops@example.org, "Backup Desk <desk@example.org>"], from: "polyarchiv <robot@example.org>", subject: "[{status}] {name} sauvegardé", username: robot, password_file: $ROOT/smtp-password, require_tls: false}
            """)
        guard let server = try TestServer.start("smtp_server.py", [sandbox.path("mail"), "--auth", "robot:s3cret-Mail!"]) else { return }
        defer { server.stop() }
        try configure(sandbox, port: server.port)
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(!(run.stdout + run.stderr).contains("s3cret"))
        let messages = try received(sandbox)
        try #require(messages.count == 1)
        let message = messages[0]
        #expect(message.contains("X-Envelope-From: robot@example.org"))
        #expect(message.contains("X-Envelope-To: ops@example.org, desk@example.org"))
        #expect(message.contains("X-Authenticated: True"))
        #expect(message.contains("Subject: [OK] box sauvegardé"), "\(message)")
        #expect(message.contains("To: ops@example.org, Backup Desk <desk@example.org>"))
        #expect(message.contains("OK: box"))
        #expect(message.contains("succeeded collect:box"))
    }

    @Test func aWrongPasswordFailsTheHookOnlyWithOneClearLine() throws {
        let sandbox = try sandbox(hook: """
            {engine: email, events: [after_backup], smtp_url: "smtp://127.0.0.1:PORT", to: [ops@example.org], username: robot, password_file: $ROOT/smtp-password, retries: 0, require_tls: false}
            """)
        guard let server = try TestServer.start("smtp_server.py", [sandbox.path("mail"), "--auth", "robot:other"]) else { return }
        defer { server.stop() }
        try configure(sandbox, port: server.port)
        let run = try sandbox.apply()
        #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("notify:box/email/after"))
        #expect(run.stdout.contains("Login denied"), "\(run.stdout)")
        #expect(!(run.stdout + run.stderr).contains("s3cret"))
        #expect(try received(sandbox).isEmpty)
        #expect(FileManager.default.fileExists(atPath: sandbox.path("collect/x.out")))
    }

    @Test func startTLSIsUsedAndVerified() throws {
        let sandbox = try sandbox(hook: """
            {engine: email, events: [after_backup], smtp_url: "smtp://127.0.0.1:PORT", to: [ops@example.org], require_tls: true, ca_cert: $ROOT/cert.pem, username: robot, password_file: $ROOT/smtp-password}
            """)
        let (cert, key) = try certificate(sandbox)
        guard let server = try TestServer.start("smtp_server.py", [sandbox.path("mail"), "--starttls", cert, key,
                                                                     "--auth", "robot:s3cret-Mail!"]) else { return }
        defer { server.stop() }
        try configure(sandbox, port: server.port)
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let messages = try received(sandbox)
        try #require(messages.count == 1)
        #expect(messages[0].contains("X-TLS: True"))
        #expect(messages[0].contains("X-Authenticated: True"))
    }

    @Test func requireTLSRefusesAServerWithoutIt() throws {
        let sandbox = try sandbox(hook: """
            {engine: email, events: [after_backup], smtp_url: "smtp://127.0.0.1:PORT", to: [ops@example.org], require_tls: true, retries: 0}
            """)
        guard let server = try TestServer.start("smtp_server.py", [sandbox.path("mail")]) else { return }
        defer { server.stop() }
        try configure(sandbox, port: server.port)
        let run = try sandbox.apply()
        #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("SSL"), "\(run.stdout)")
        #expect(try received(sandbox).isEmpty)
    }

    @Test func smtpsWithAnUntrustedCertificateSendsNothing() throws {
        let sandbox = try sandbox(hook: """
            {engine: email, events: [after_backup], smtp_url: "smtps://127.0.0.1:PORT", to: [ops@example.org], retries: 0}
            """)
        let (cert, key) = try certificate(sandbox)
        guard let server = try TestServer.start("smtp_server.py", [sandbox.path("mail"), "--implicit-tls", cert, key]) else { return }
        defer { server.stop() }
        try configure(sandbox, port: server.port)
        let refused = try sandbox.apply()
        #expect(refused.status == 3, "\(refused.stdout)")
        #expect(refused.stdout.contains("certificate"), "\(refused.stdout)")
        #expect(try received(sandbox).isEmpty)
        // Trusting the certificate's CA sends it.
        let text = try String(contentsOfFile: sandbox.config, encoding: .utf8)
        try text.replacingOccurrences(of: "retries: 0}", with: "retries: 0, ca_cert: $ROOT/cert.pem}".replacingOccurrences(of: "$ROOT", with: sandbox.root.path))
            .write(toFile: sandbox.config, atomically: false, encoding: .utf8)
        #expect(try sandbox.apply(["--force"]).status == 0)
        let messages = try received(sandbox)
        try #require(messages.count == 1)
        #expect(messages[0].contains("X-TLS: True"))
    }

    @Test func aPasswordIsNeverSentInClearUnlessAllowed() throws {
        let sandbox = try sandbox(hook: """
            {engine: email, events: [after_backup], smtp_url: "smtp://127.0.0.1:PORT", to: [ops@example.org], username: robot, password_file: $ROOT/smtp-password, retries: 0}
            """)
        guard let server = try TestServer.start("smtp_server.py", [sandbox.path("mail"), "--auth", "robot:s3cret-Mail!"]) else { return }
        defer { server.stop() }
        try configure(sandbox, port: server.port)
        let run = try sandbox.apply()
        #expect(run.status == 3, "no STARTTLS offered, so no login: \(run.stdout)")
        #expect(try received(sandbox).isEmpty)
    }
}
