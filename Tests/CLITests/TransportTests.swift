import Foundation
import Testing
import TestSupport

/// Archive backup points over every transport against real servers: first run, second run (nothing
/// uploaded again), restore on a fresh machine, no temporary name left behind, wrong credentials.
@Suite(.serialized) struct TransportTests {
    enum Kind: String, CaseIterable, CustomStringConvertible {
        case sftp, scp, ftp, ftps, webdav, webdavTLS, s3, s3VirtualHosted
        var description: String { rawValue }
        var script: String {
            switch self {
            case .sftp, .scp: return "sshd.py"
            case .ftp, .ftps: return "ftp.py"
            case .webdav, .webdavTLS: return "webdav.py"
            case .s3, .s3VirtualHosted: return "s3.py"
            }
        }
        var options: [String] { [.ftps, .webdavTLS].contains(self) ? ["--tls"] : [] }
    }

    /// The backup point's YAML for one transport, and where on the server its files land (for listing).
    func backupPoint(_ kind: Kind, _ server: TestServer, _ sandbox: Sandbox, password: String? = nil) throws -> (yaml: String, list: () throws -> [String]) {
        func listing(_ directory: String) -> () throws -> [String] {
            { (try? FileManager.default.contentsOfDirectory(atPath: directory))?.sorted() ?? [] }
        }
        switch kind {
        case .sftp, .scp:
            let directory = sandbox.path("remote/backups")
            let yaml = "{engine: archive, url: \"\(kind.rawValue)://root@127.0.0.1:\(server.port)\(directory)/{name}.tar.zst\", "
                + "private_key: \(server.string("private_key")), known_hosts: \(server.string("known_hosts"))}"
            return (yaml, listing(directory))
        case .ftp, .ftps:
            let secret = password.map { "password: \"\($0)\"" } ?? "password_file: \(server.string("password_file"))"
            var yaml = "{engine: archive, url: \"\(kind.rawValue)://127.0.0.1:\(server.port)/backups/{name}.tar.zst\", "
                + "username: \(server.string("user")), \(secret)"
            if kind == .ftps { yaml += ", ca_cert: \(server.string("ca_cert"))" }
            return (yaml + "}", listing(server.string("root") + "/backups"))
        case .webdav, .webdavTLS:
            let secret = password.map { "password: \"\($0)\"" } ?? "password_file: \(server.string("password_file"))"
            var yaml = "{engine: archive, url: \"\(server.string("url"))backups/deep/{name}.tar.zst\", username: \(server.string("user")), \(secret)"
            if kind == .webdavTLS { yaml += ", ca_cert: \(server.string("ca_cert"))" }
            return (yaml + "}", listing(server.string("root") + "/backups/deep"))
        case .s3, .s3VirtualHosted:
            let endpoint = server.string("endpoint")
            let secret = password ?? server.string("secret_key")
            // Virtual-hosted: the bucket in the host name (BUCKET.localhost:PORT, which libcurl resolves to loopback).
            let style = kind == .s3 ? "s3_endpoint: \"\(endpoint)\", s3_url_style: path"
                : "s3_endpoint: \"http://\(server.string("virtual_host_suffix")):\(server.port)\", s3_url_style: virtual"
            let yaml = "{engine: archive, url: \"s3://\(server.string("bucket"))/backups/{name}.tar.zst\", \(style), "
                + "s3_access_key: \(server.string("access_key")), s3_secret_key: \"\(secret)\", s3_part_size: 5}"
            return (yaml, {
                // An independent signed listing (the server checks signatures): the key pair of the launcher.
                let result = try Sandbox.shell("curl -s --aws-sigv4 aws:amz:us-east-1:s3 --user '\(server.string("access_key")):\(secret)' "
                                               + "-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "
                                               + "'\(endpoint)/\(server.string("bucket"))?list-type=2&prefix=backups%2F'")
                return result.output.components(separatedBy: "<Key>").dropFirst().compactMap { $0.components(separatedBy: "</Key>").first }
                    .map { ($0 as NSString).lastPathComponent }.sorted()
            })
        }
    }

    @Test(arguments: Kind.allCases)
    func roundTrip(kind: Kind) throws {
        guard let server = try TestServer.start(kind.script, options: kind.options) else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        try sandbox.write("data/index.html", "<h1>\(kind)</h1>\n")
        // Incompressible bytes: 12 MiB make three S3 parts of 5 MiB.
        #expect(try Sandbox.shell("head -c 12582912 /dev/urandom > '\(sandbox.path("data/random.bin"))'").status == 0)
        let (yaml, list) = try backupPoint(kind, server, sandbox)
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              offsite: \(yaml)
            """)
        let first = try sandbox.apply()
        #expect(first.status == 0, "\(first.stdout)")
        let names = try list()
        #expect(names == [Sandbox.document("offsite", "site"), "site.tar.zst", "site.tar.zst.polyarchiv-tree"],
                "only final names on the server: \(names)")
        let again = try sandbox.apply(["--force"])
        #expect(again.stdout.contains("cached       upload:offsite/site"), "\(again.stdout)")
        // A fresh machine: list and restore through the transport.
        try FileManager.default.removeItem(atPath: sandbox.state)
        try FileManager.default.removeItem(atPath: sandbox.path("collect"))
        let listed = try CLI.run(["list", "-c", sandbox.config])
        #expect(listed.stdout.contains("site.tar.zst"), "\(listed.stdout)\(listed.stderr)")
        // The listing beside the archive comes back through the transport too.
        let ls = try CLI.run(["ls", "-c", sandbox.config, "www"])
        #expect(ls.stdout.contains("www/random.bin") && ls.stdout.contains("12.0 MiB"), "\(ls.stdout)\(ls.stderr)")
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try Sandbox.shell("diff -r '\(sandbox.path("data"))' '\(sandbox.path("restored/site/www"))'").status == 0)
    }

    /// `https://user:password@host/…`: the password reaches the server and nothing else: not the metadata
    /// document on the server, not the journal, not the output.
    @Test(arguments: [Kind.ftp, .webdav])
    func aPasswordInTheURLIsNeverRecorded(kind: Kind) throws {
        guard let server = try TestServer.start(kind.script) else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        try sandbox.write("data/a.txt", "a\n")
        let password = try String(contentsOfFile: server.string("password_file"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(password.count >= 8, "a password distinctive enough to search for")
        let credentials = "\(server.string("user")):\(password.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? password)@"
        let url: String
        let documents: String
        switch kind {
        case .ftp:
            url = "ftp://\(credentials)127.0.0.1:\(server.port)/backups/{name}.tar.zst"
            documents = server.string("root") + "/backups"
        default:
            url = server.string("url").replacingOccurrences(of: "://", with: "://\(credentials)") + "backups/{name}.tar.zst"
            documents = server.string("root") + "/backups"
        }
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              offsite: {engine: rolling_archive, url: "\(url)", keep: {daily: 3}}
            """)
        let first = try sandbox.apply()
        #expect(first.status == 0, "\(first.stdout)")
        let again = try sandbox.apply(["--force"])
        #expect(again.stdout.contains("cached       upload:offsite/site"), "the recorded location is checked with the password: \(again.stdout)")
        let document = try String(contentsOfFile: documents + "/" + Sandbox.document("offsite", "site"), encoding: .utf8)
        #expect(document.contains("127.0.0.1") && !document.contains(password), "\(document)")
        let journal = try Sandbox.shell("sqlite3 '\(sandbox.state)/journal.sqlite' .dump").output
        #expect(journal.contains("127.0.0.1") && !journal.contains(password), "the journal holds the password")
        for output in [first.stdout, first.stderr, again.stdout, again.stderr] { #expect(!output.contains(password)) }
        // A fresh machine finds and downloads the backup with the configured password.
        try FileManager.default.removeItem(atPath: sandbox.state)
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stdout)\(restored.stderr)")
        #expect(!restored.stdout.contains(password) && !restored.stderr.contains(password))
        #expect(try Sandbox.shell("diff -r '\(sandbox.path("data"))' '\(sandbox.path("restored/site/www"))'").status == 0)
    }

    @Test(arguments: [Kind.ftp, .webdav, .s3])
    func wrongCredentialsFailAtOnceWithOneClearLine(kind: Kind) throws {
        guard let server = try TestServer.start(kind.script) else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        try sandbox.write("data/a.txt", "a\n")
        let (yaml, _) = try backupPoint(kind, server, sandbox, password: "not-the-password")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              offsite: \(yaml)
            """)
        let started = Date()
        let run = try sandbox.apply()
        #expect(run.status == 2)
        #expect(run.stdout.contains(kind == .ftp ? "Access denied" : kind == .s3 ? "HTTP 403" : "HTTP 401"), "\(run.stdout)")
        #expect(run.stdout.contains("check the credentials") || kind == .ftp, "\(run.stdout)")
        #expect(!run.stdout.contains("not-the-password"), "the password is never shown")
        #expect(Date().timeIntervalSince(started) < 30, "a permanent failure is not retried for long")
    }
}

/// An upload killed in the middle: no final name ever holds a part, and the next apply completes it
/// (resuming where the protocol allows) with the right bytes.
@Suite(.serialized) struct InterruptedUploadTests {
    @Test(arguments: [TransportTests.Kind.sftp, .ftp, .s3])
    func aKilledUploadIsCompletedByTheNextApply(kind: TransportTests.Kind) throws {
        guard let server = try TestServer.start(kind.script, options: kind.options) else { return }
        defer { server.stop() }
        var upload = try SlowUpload(kind, server)
        // Killed (-9) about 3 s into a 6 s upload; the final name is watched all along.
        try upload.start()
        try upload.watch(for: 3)
        kill(upload.apply.processIdentifier, SIGKILL)
        upload.apply.waitUntilExit()
        #expect(!upload.sawFinal, "the final name appeared before the upload finished")
        let afterKill = try upload.list()
        #expect(!afterKill.contains("site.tar.zst"))
        if kind != .s3 {
            #expect(afterKill.contains { $0.hasPrefix(".site.tar.zst.") && $0.hasSuffix(".polyarchiv-part") }, "killed mid-upload: \(afterKill)")
        }
        let second = try upload.sandbox.apply()
        #expect(second.status == 0, "\(second.stdout)")
        #expect(try upload.restoresTheSameBytes())
        let left = try upload.list()
        #expect(left.filter { $0.contains("polyarchiv-part") }.isEmpty, "no temporary name is left: \(left)")
    }
}

/// An upload killed in the middle when the next run sends to another name (a time in the URL): what the
/// killed one left at the old name is removed, not left on the server for ever.
@Suite(.serialized) struct AbandonedPartTests {
    @Test(arguments: [TransportTests.Kind.sftp, .ftp, .s3])
    func whatAKilledUploadLeftUnderAnotherNameIsRemovedByTheNextApply(kind: TransportTests.Kind) throws {
        guard let server = try TestServer.start(kind.script, options: kind.options) else { return }
        defer { server.stop() }
        var upload = try SlowUpload(kind, server, name: "{name}-{H}{M}{S}")
        // What a killed upload leaves: a part file, or (S3) a multipart upload that no listing of keys shows.
        let leftovers: () throws -> [String] = kind == .s3 ? {
            let result = try Sandbox.shell("curl -s --aws-sigv4 aws:amz:us-east-1:s3 --user '\(server.string("access_key")):\(server.string("secret_key"))' "
                                           + "-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' '\(server.string("endpoint"))/\(server.string("bucket"))?uploads='")
            return result.output.components(separatedBy: "<UploadId>").dropFirst().map { String($0.prefix { $0 != "<" }) }
        } : { try upload.list().filter { $0.hasSuffix(".polyarchiv-part") } }
        try upload.start()
        try upload.watch(for: 3)
        kill(upload.apply.processIdentifier, SIGKILL)
        upload.apply.waitUntilExit()
        let listed = try upload.list(), found = try leftovers()
        #expect(found.count == 1, "killed mid-upload: \(listed) \(found)")
        sleep(1)
        let second = try upload.sandbox.apply()
        #expect(second.status == 0, "\(second.stdout)")
        #expect(second.stdout.contains("removed what an interrupted upload to"), "\(second.stdout)")
        #expect(try leftovers().isEmpty, "nothing of the killed upload is left")
        let left = try upload.list()
        #expect(left.filter { $0.hasSuffix(".tar.zst") }.count == 1, "\(left)")
    }
}

/// An interrupted upload whose leftover bytes changed on the server before the next apply resumed it: the
/// resumed file is read back and hashed, and sent again whole when it differs.
@Suite(.serialized) struct TamperedResumeTests {
    @Test(arguments: [TransportTests.Kind.sftp, .ftp])
    func aResumedUploadWhoseEarlierBytesChangedIsSentAgain(kind: TransportTests.Kind) throws {
        guard let server = try TestServer.start(kind.script, options: kind.options) else { return }
        defer { server.stop() }
        var upload = try SlowUpload(kind, server)
        let directory = kind == .sftp ? upload.sandbox.path("remote/backups") : server.string("root") + "/backups"
        try upload.start()
        try upload.watch(for: 3)
        kill(upload.apply.processIdentifier, SIGKILL)
        upload.apply.waitUntilExit()
        let part = try #require(try FileManager.default.contentsOfDirectory(atPath: directory).first { $0.hasSuffix(".polyarchiv-part") },
                                "killed mid-upload")
        // Same size, one byte different, early in the part that is kept.
        #expect(try Sandbox.shell("printf 'X' | dd of='\(directory)/\(part)' bs=1 seek=1000 conv=notrunc 2>/dev/null").status == 0)
        let second = try upload.sandbox.apply()
        #expect(second.status == 0, "\(second.stdout)")
        #expect(try upload.restoresTheSameBytes())
    }
}

/// The server side of an upload dies in the middle (sshd's process for the connection is killed): the
/// same apply retries, resumes from what arrived, and the final name only ever holds the whole file.
@Suite(.serialized) struct ServerDropTests {
    @Test func anUploadWhoseConnectionDiesIsRetriedAndResumed() throws {
        guard let server = try TestServer.start("sshd.py") else { return }
        defer { server.stop() }
        var upload = try SlowUpload(.sftp, server, extra: ", retries: 3")
        let output = Pipe()
        try upload.start(output: output)
        try upload.watch(for: 3)
        // sshd's listener runs with our config file on its command line; its children are the connections.
        let listener = try Sandbox.shell("pgrep -f -o -- '\(server.string("config"))'").output.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(!listener.isEmpty, "the sshd listener")
        #expect(try Sandbox.shell("pkill -9 -P \(listener)").status == 0, "a connection was open to kill")
        upload.apply.waitUntilExit()  // the final name may appear now, once the upload is whole
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(upload.apply.terminationStatus == 0, "the same apply recovers: \(text)")
        #expect(!upload.sawFinal)
        #expect(try upload.restoresTheSameBytes())
    }
}

/// Transient answers are retried with a growing pause; permanent ones fail at once.
@Suite(.serialized) struct RetryTests {
    func run(failures: Int, status: Int, retries: Int) throws -> (CLI.Result, [String], Sandbox) {
        let sandbox = try Sandbox()
        try FileManager.default.createDirectory(atPath: sandbox.path("dav"), withIntermediateDirectories: true)
        guard let server = try TestServer.start("flaky_dav.py", [sandbox.path("dav"), String(failures), String(status)]) else {
            throw TestServer.Unavailable(description: "flaky_dav.py")
        }
        defer { server.stop() }
        try sandbox.write("data/a.txt", "a\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              dav: {engine: archive, url: "http://127.0.0.1:\(server.port)/b/{name}.tar.gz", retries: \(retries)}
            """)
        let result = try sandbox.apply()
        let log = ((try? String(contentsOfFile: sandbox.path("requests.log"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        return (result, log, sandbox)
    }

    @Test func twoServiceUnavailableAnswersAreRetried() throws {
        let started = Date()
        let (result, log, sandbox) = try run(failures: 2, status: 503, retries: 3)
        #expect(result.status == 0, "\(result.stdout)")
        #expect(log.filter { $0.hasPrefix("PUT") && $0.hasSuffix("503") }.count == 2, "\(log)")
        #expect(Date().timeIntervalSince(started) >= 3, "paused 1 s then 2 s between attempts")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("dav/b/site.tar.gz")))
    }

    @Test func aForbiddenAnswerIsNotRetried() throws {
        let (result, log, _) = try run(failures: 100, status: 403, retries: 3)
        #expect(result.status == 2)
        #expect(result.stdout.contains("HTTP 403"), "\(result.stdout)")
        #expect(log.filter { $0.hasPrefix("PUT") }.count == 1, "\(log)")
    }

    @Test func retriesRunOut() throws {
        let (result, log, _) = try run(failures: 100, status: 503, retries: 1)
        #expect(result.status == 2)
        #expect(result.stdout.contains("failed after 2 attempts"), "\(result.stdout)")
        #expect(log.filter { $0.hasPrefix("PUT") }.count == 2, "\(log)")
    }
}

/// TLS is verified against `ca_cert`, and a client certificate is presented when the server wants one.
@Suite(.serialized) struct ClientCertificateTests {
    @Test func aServerThatWantsAClientCertificateGetsOne() throws {
        let sandbox = try Sandbox()
        let made = try Sandbox.shell("""
            cd '\(sandbox.root.path)' && \
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=test-ca -keyout ca.key -out ca.pem && \
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr && \
            printf 'subjectAltName=IP:127.0.0.1' > san.ext && \
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.pem && \
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=backup-client -keyout client.key -out client.csr && \
            openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem
            """ + " 2>&1")
        try #require(made.status == 0, "\(made.output)")
        try FileManager.default.createDirectory(atPath: sandbox.path("dav"), withIntermediateDirectories: true)
        guard let server = try TestServer.start("flaky_dav.py", [sandbox.path("dav"), "0", "--tls", sandbox.path("server.pem"),
                                                                 sandbox.path("server.key"), "--client-ca", sandbox.path("ca.pem")]) else { return }
        defer { server.stop() }
        try sandbox.write("data/a.txt", "a\n")
        func attempt(_ tls: String) throws -> CLI.Result {
            try sandbox.configure("""
                collect_points:
                  site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
                backup_points:
                  dav: {engine: archive, url: "https://127.0.0.1:\(server.port)/b/{name}.tar.gz", retries: 0\(tls)}
                """)
            return try sandbox.apply(["--force"])
        }
        // Without the CA, the self-made certificate is refused: never silently insecure.
        let untrusted = try attempt("")
        #expect(untrusted.status == 2)
        #expect(untrusted.stdout.lowercased().contains("certificate"), "\(untrusted.stdout)")
        // With the CA but no client certificate, the server refuses.
        #expect(try attempt(", ca_cert: $ROOT/ca.pem".replacingOccurrences(of: "$ROOT", with: sandbox.root.path)).status == 2)
        let accepted = try attempt(", ca_cert: \(sandbox.path("ca.pem")), client_cert: \(sandbox.path("client.pem")), client_key: \(sandbox.path("client.key"))")
        #expect(accepted.status == 0, "\(accepted.stdout)")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("dav/b/site.tar.gz")))
    }
}

/// The server stopped in the middle of an upload, then started again: the next apply completes the
/// upload (resuming it), and the final name never held a part.
@Suite(.serialized) struct ServerRestartTests {
    @Test func anUploadCutByAServerStopIsCompletedAfterItsRestart() throws {
        let work = try Sandbox()
        let serverDirectory = work.path("server")
        try FileManager.default.createDirectory(atPath: serverDirectory, withIntermediateDirectories: true)
        guard let first = try TestServer.start("sshd.py", [serverDirectory]) else { return }
        var upload = try SlowUpload(.sftp, first, extra: ", retries: 0")
        try upload.start()
        try upload.watch(for: 3)
        first.stop()  // sshd and its connections go down mid-upload
        try upload.watch(for: nil)
        #expect(upload.apply.terminationStatus == 2, "the upload failed with the server down")
        #expect(!upload.sawFinal, "the final name never held a part")
        let afterStop = try upload.list()
        #expect(afterStop.filter { $0.hasSuffix(".polyarchiv-part") }.count == 1, "what arrived waits under a temporary name: \(afterStop)")
        // The same server (keys, port) comes back; the next apply finishes the job.
        guard let second = try TestServer.start("sshd.py", [serverDirectory]) else { return }
        defer { second.stop() }
        #expect(second.port == first.port)
        let resumed = try upload.sandbox.apply()
        #expect(resumed.status == 0, "\(resumed.stdout)")
        let final = try upload.list()
        #expect(final == [Sandbox.document("offsite", "site"), "site.tar.zst", "site.tar.zst.polyarchiv-tree"], "\(final)")
        #expect(try upload.restoresTheSameBytes())
    }
}

/// A slow upload (12 MiB of random bytes at 2 MB/s) to one backup point, with `apply` started in the
/// background and the final name watched while it runs: what the fault tests share.
struct SlowUpload {
    let sandbox: Sandbox
    let list: () throws -> [String]
    let apply = Process()
    private(set) var sawFinal = false

    init(_ kind: TransportTests.Kind, _ server: TestServer, extra: String = "", name: String = "{name}") throws {
        sandbox = try Sandbox()
        try FileManager.default.createDirectory(atPath: sandbox.path("data"), withIntermediateDirectories: true)
        #expect(try Sandbox.shell("head -c 12582912 /dev/urandom > '\(sandbox.path("data/random.bin"))'").status == 0)
        var (yaml, list) = try TransportTests().backupPoint(kind, server, sandbox)
        yaml = yaml.replacingOccurrences(of: "{name}.tar.zst", with: name + ".tar.zst")
        yaml = String(yaml.dropLast()) + ", bandwidth_limit: 2M\(extra)}"
        self.list = list
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              offsite: \(yaml)
            """)
    }

    /// Starts `apply` in the background.
    func start(output: Pipe? = nil) throws {
        apply.executableURL = CLI.binary
        apply.arguments = ["apply", "-c", sandbox.config, "--state-dir", sandbox.state]
        apply.standardOutput = output ?? FileHandle.nullDevice
        apply.standardError = FileHandle.nullDevice
        try apply.run()
    }

    /// Watches the final name for `seconds`, or until `apply` ends when nil.
    mutating func watch(for seconds: TimeInterval?) throws {
        let deadline = seconds.map { Date().addingTimeInterval($0) }
        while deadline.map({ Date() < $0 }) ?? apply.isRunning {
            if try list().contains("site.tar.zst") { sawFinal = true }
            usleep(50_000)
        }
    }

    /// A fresh machine restores the backup: the bytes must be the ones backed up.
    func restoresTheSameBytes() throws -> Bool {
        try FileManager.default.removeItem(atPath: sandbox.state)
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stderr)")
        return try Sandbox.shell("cmp '\(sandbox.path("data/random.bin"))' '\(sandbox.path("restored/site/www/random.bin"))'").status == 0
    }
}

/// Servers that answer differently from nginx: what they say must not be taken for "missing".
@Suite(.serialized) struct WebDAVQuirkTests {
    /// A HEAD without Content-Length once made the metadata document look missing: every run started a
    /// new history, and older backups were no longer listed (nor ever pruned).
    @Test func aHeadWithoutLengthStillFindsTheDocumentAndItsHistory() throws {
        let sandbox = try Sandbox()
        try FileManager.default.createDirectory(atPath: sandbox.path("dav"), withIntermediateDirectories: true)
        guard let server = try TestServer.start("flaky_dav.py", [sandbox.path("dav"), "0", "503", "--no-head-length"]) else {
            throw TestServer.Unavailable(description: "flaky_dav.py")
        }
        defer { server.stop() }
        try sandbox.write("data/a.txt", "a\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              dav: {engine: rolling_archive, url: "http://127.0.0.1:\(server.port)/b/{name}-{H}{M}{S}.tar.gz", keep: {last: 5}}
            """)
        for round in 0..<3 {
            try sandbox.write("data/a.txt", "round \(round)\n")
            let run = try sandbox.apply(["--force"])
            #expect(run.status == 0, "\(run.stdout)")
            sleep(1)
        }
        let document = try Data(contentsOf: URL(fileURLWithPath: sandbox.path("dav/b/" + Sandbox.document("dav", "site"))))
        let backups = (try JSONSerialization.jsonObject(with: document) as? [String: Any])?["backups"] as? [Any]
        #expect(backups?.count == 3, "the document keeps every backup: \(String(decoding: document, as: UTF8.self))")
        let listed = try CLI.run(["list", "-c", sandbox.config])
        #expect(listed.stdout.components(separatedBy: ".tar.gz").count - 1 >= 3, "\(listed.stdout)")
    }
}

