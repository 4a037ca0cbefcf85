import Foundation
import Testing
import TestSupport

/// The http hook against a real HTTP listener on loopback that records what it receives.
@Suite(.serialized) struct HTTPHookTests {
    /// A Python ThreadingHTTPServer on an ephemeral port; every request is appended to `log` as JSON.
    final class Listener {
        let process = Process()
        let port: Int
        let log: String

        init(directory: String) throws {
            log = directory + "/requests.jsonl"
            let script = """
                import json, sys, http.server
                log = sys.argv[1]
                class Handler(http.server.BaseHTTPRequestHandler):
                    def handle_any(self):
                        length = int(self.headers.get('Content-Length') or 0)
                        body = self.rfile.read(length).decode() if length else ''
                        with open(log, 'a') as out:
                            out.write(json.dumps({'method': self.command, 'path': self.path, 'body': body,
                                                  'token': self.headers.get('X-Token'), 'title': self.headers.get('Title'),
                                                  'priority': self.headers.get('Priority'), 'tags': self.headers.get('Tags')}) + '\\n')
                        self.send_response(404 if self.path.startswith('/missing') else 200)
                        self.end_headers()
                    do_GET = do_POST = do_PUT = do_HEAD = handle_any
                    def log_message(self, *args): pass
                server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
                print(server.server_address[1], flush=True)
                server.serve_forever()
                """
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = ["-c", script, log]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let line = output.fileHandleForReading.availableData
            guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
                process.terminate()
                throw CocoaError(.fileReadUnknown)
            }
            self.port = port
        }

        var requests: [[String: Any]] {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }

        func stop() {
            // SIGKILL: a child started from a test thread may inherit a mask that blocks SIGTERM.
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }

        deinit { stop() }
    }

    func sandbox(command: String, hook: String) throws -> (Sandbox, Listener) {
        let sandbox = try Sandbox()
        let listener = try Listener(directory: sandbox.root.path)
        try sandbox.configure("""
            collect_points:
              box:
                engine: files
                path: $ROOT/collect
                sources: {x: {engine: command, command: "\(command)"}}
            hooks:
              - \(hook.replacingOccurrences(of: "PORT", with: String(listener.port)))
            """)
        return (sandbox, listener)
    }

    @Test func healthchecksPingsStartThenSuccess() throws {
        let (sandbox, listener) = try sandbox(command: "echo ok",
            hook: "{engine: http, style: healthchecks, url: \"http://127.0.0.1:PORT/ping/abc\", events: [before_backup, backup_success, backup_error]}")
        defer { listener.stop() }
        #expect(try sandbox.apply().status == 0)
        let paths = listener.requests.map { "\($0["method"] ?? "") \($0["path"] ?? "")" }
        #expect(paths == ["GET /ping/abc/start", "GET /ping/abc"])
    }

    @Test func healthchecksFailPingCarriesTheLog() throws {
        let (sandbox, listener) = try sandbox(command: "exit 5",
            hook: "{engine: http, style: healthchecks, url: \"http://127.0.0.1:PORT/ping/abc\", events: [before_backup, backup_success, backup_error]}")
        defer { listener.stop() }
        #expect(try sandbox.apply().status == 2)
        let requests = listener.requests
        #expect(requests.map { "\($0["method"] ?? "") \($0["path"] ?? "")" } == ["GET /ping/abc/start", "POST /ping/abc/fail"])
        let body = requests.last?["body"] as? String ?? ""
        #expect(body.contains("KO: box"))
        #expect(body.contains("failed dump:box/x: `exit 5` exited with status 5"), "\(body)")
        #expect(body.contains("blocked collect:box: blocked by dump:box/x, which failed"), "\(body)")
    }

    /// ntfy, Uptime Kuma and Cronitor get the calls they expect, for a good run and for a failed one.
    @Test(arguments: ["echo ok", "exit 5"])
    func monitoringServicesGetTheirOwnCalls(command: String) throws {
        let events = "events: [before_backup, backup_success, backup_error]"
        let failed = command == "exit 5"
        let (sandbox, listener) = try sandbox(command: command, hook: """
            {engine: http, style: ntfy, url: "http://127.0.0.1:PORT/ntfy/backups", \(events)}
              - {engine: http, style: uptime_kuma, url: "http://127.0.0.1:PORT/api/push/abc", \(events)}
              - {engine: http, style: cronitor, url: "http://127.0.0.1:PORT/p/key/nightly", \(events)}
            """)
        defer { listener.stop() }
        #expect(try sandbox.apply().status == (failed ? 2 : 0))
        let requests = listener.requests
        let ntfy = requests.filter { ($0["path"] as? String)?.hasPrefix("/ntfy/") == true }
        #expect(ntfy.count == 2 && ntfy.allSatisfy { $0["method"] as? String == "POST" }, "\(ntfy)")
        #expect(ntfy.first?["tags"] as? String == "hourglass" && (ntfy.first?["title"] as? String)?.hasSuffix(": before backup") == true, "\(ntfy)")
        let end = ntfy.last ?? [:]
        #expect(end["priority"] as? String == (failed ? "high" : "default") && end["tags"] as? String == (failed ? "rotating_light" : "white_check_mark"))
        let body = end["body"] as? String ?? ""
        #expect(body.hasPrefix(failed ? "backup_error KO\nKO: box" : "backup_success OK\nOK: box"), "\(body)")
        if failed { #expect(body.contains("failed dump:box/x: `exit 5` exited with status 5"), "\(body)") }
        let kuma = requests.compactMap { $0["path"] as? String }.filter { $0.hasPrefix("/api/push/abc") }
        #expect(kuma == ["/api/push/abc?msg=\(failed ? "backup_error%20KO%0AKO:%20box" : "backup_success%20OK%0AOK:%20box")&ping=&status=\(failed ? "down" : "up")"],
                "only the end is pushed: \(kuma)")
        let cronitor = requests.compactMap { $0["path"] as? String }.filter { $0.hasPrefix("/p/key/nightly") }
        #expect(cronitor.count == 2 && cronitor.first?.hasSuffix("&state=run") == true
                && cronitor.last?.hasSuffix("&state=\(failed ? "fail" : "complete")") == true, "\(cronitor)")
    }

    @Test func plainRequestWithTemplatedBodyAndASecretHeader() throws {
        setenv("PA_HOOK_TOKEN", "t0k3n", 1)
        let (sandbox, listener) = try sandbox(command: "echo ok",
            hook: "{engine: http, method: POST, url: \"http://127.0.0.1:PORT/notify\", body: \"{status} {event}\", headers: {X-Token: \"${env:PA_HOOK_TOKEN}\"}, events: [after_backup]}")
        defer { listener.stop() }
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        let request = try #require(listener.requests.first)
        #expect(request["body"] as? String == "OK after_backup")
        #expect(request["token"] as? String == "t0k3n")
        #expect(!run.stdout.contains("t0k3n"))
    }

    @Test func anErrorAnswerFailsTheHookNotTheBackup() throws {
        let (sandbox, listener) = try sandbox(command: "echo ok",
            hook: "{engine: http, url: \"http://127.0.0.1:PORT/missing\", events: [after_backup], retries: 0}")
        defer { listener.stop() }
        let run = try sandbox.apply()
        #expect(run.status == 3, "\(run.stdout)")
        #expect(run.stdout.contains("answered HTTP 404"))
    }
}
