import Foundation
import Testing
import TestSupport

/// The gitlab backup point against a local implementation of the GitLab API v4 endpoints it uses.
@Suite(.serialized) struct GitLabTests {
    @Test func theProjectIsCreatedOnceThenPushedToAndRestored() throws {
        guard let server = try TestServer.start("gitlab_api.py") else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        try sandbox.write("data/index.html", "<h1>one</h1>\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              lab: {engine: gitlab, gitlab_url: "\(server.string("url"))", project: "backups/{name}", token_file: \(server.string("token_file"))}
            """)
        let first = try sandbox.apply()
        #expect(first.status == 0, "\(first.stdout)")
        #expect(!first.stdout.contains(server.string("token")), "the token is never shown")
        try sandbox.write("data/index.html", "<h1>two</h1>\n")
        #expect(try sandbox.apply(["--force"]).status == 0)
        let requests = try String(contentsOfFile: server.string("requests_log"), encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let posts = requests.filter { $0["method"] as? String == "POST" }
        #expect(posts.count == 1, "created once: \(requests)")
        #expect(requests.allSatisfy { $0["token"] as? Bool == true }, "every call carries the token header")
        let repository = server.string("repos") + "/backups/site.git"
        #expect(try Sandbox.shell("git -C '\(repository)' rev-list --count main").output == "2\n")
        #expect(try Sandbox.shell("git -C '\(repository)' fsck --strict 2>&1").status == 0)
        // A fresh machine restores through the API and a clone.
        try FileManager.default.removeItem(atPath: sandbox.state)
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try String(contentsOfFile: sandbox.path("restored/site/www/index.html"), encoding: .utf8) == "<h1>two</h1>\n")
        // A wrong token: one clear line.
        try sandbox.write("bad-token", "glpat-wrong")
        try sandbox.configure(try String(contentsOfFile: sandbox.config, encoding: .utf8)
            .replacingOccurrences(of: server.string("token_file"), with: sandbox.path("bad-token")))
        try sandbox.write("data/index.html", "<h1>three</h1>\n")
        let refused = try sandbox.apply(["--force"])
        #expect(refused.status == 2)
        #expect(refused.stdout.contains("refused the token (HTTP 401)"), "\(refused.stdout)")
    }
}
