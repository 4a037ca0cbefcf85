import Foundation
import Testing
import TestSupport

/// Credentials written in clear in the configuration (an Authorization header, a hook's environment, a
/// token in a URL's query, a URL's password) are never printed by validate, plan or graph.
@Suite struct SecretDisplayTests {
    @Test func headersEnvironmentsAndURLTokensAreMaskedInEveryView() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/a", "a\n")
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect
                sources:
                  www: {engine: files, path: $ROOT/data}
            backup_points:
              local:
                engine: archive
                url: "https://bob:pw123@dav.example/backups/{name}.tar.gz"
            hooks:
              - engine: http
                url: "https://hc.example/ping/abc?api_key=key789&check=1"
                headers: {Authorization: "Bearer hdr000", X-Api-Key: hdr111, Accept: text/plain}
                events: [backup_success]
              - engine: command
                command: "echo hi"
                environment: {API_TOKEN: envsecret111, PGPASSWORD: envsecret222, PLAIN: visible}
                events: [backup_success]
            """)
        let secrets = ["pw123", "key789", "hdr000", "hdr111", "envsecret111", "envsecret222"]
        for arguments in [["validate"], ["plan"], ["plan", "--format", "json"], ["graph"]] {
            let run = try sandbox.run(arguments[0], Array(arguments.dropFirst()))
            #expect(run.status == 0 || run.status == 2, "\(arguments): \(run.stderr)")
            for secret in secrets {
                #expect(!run.stdout.contains(secret) && !run.stderr.contains(secret), "\(arguments) shows \(secret):\n\(run.stdout)")
            }
        }
        // What is not a credential is still shown.
        let validate = try sandbox.run("validate")
        #expect(validate.stdout.contains("visible") && validate.stdout.contains("text/plain") && validate.stdout.contains("check="),
                "\(validate.stdout)")
    }
}
