import Foundation
import Testing
import TestSupport

@Suite struct ImportIniTests {
    @Test func convertsValidatesAndWritesSecretsAside() throws {
        let sandbox = try Sandbox()
        try sandbox.write("ini/www.collect", """
            [point]
            engine=files
            local_path=/var/backups/www
            [source "db"]
            engine=mysql
            database=www
            password=hunter2
            dump_executable=/usr/local/bin/mysqldump
            """)
        try sandbox.write("ini/out.backup", "[point]\nengine=archive\nremote_url=file:///srv/{name}.tar.gz\n")
        let output = sandbox.path("polyarchiv.yaml")
        let result = try CLI.run(["import-ini", sandbox.path("ini"), "-o", output])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("www.collect:8:1: warning: `dump_executable` has no equivalent"), "\(result.stderr)")
        let yaml = try String(contentsOfFile: output, encoding: .utf8)
        #expect(!yaml.contains("hunter2"))
        #expect(yaml.contains("password_file: \(sandbox.path("polyarchiv.secrets"))/source-db-password"))
        #expect(try CLI.run(["validate", "-q", "-c", output]).status == 0)
    }

    @Test func malformedIniIsOneLineEachAndWritesNothing() throws {
        let sandbox = try Sandbox()
        try sandbox.write("ini/a.collect", "[point]\nengine=files\n[point]\n")
        let output = sandbox.path("out.yaml")
        let result = try CLI.run(["import-ini", sandbox.path("ini"), "-o", output])
        #expect(result.status == 1)
        #expect(result.stderr.contains("a.collect:3:1: error: section [point] appears twice"))
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test func aConversionThatDoesNotValidateWritesNothing() throws {
        let sandbox = try Sandbox()
        // A relative path converts, but does not validate.
        try sandbox.write("ini/www.collect", "[point]\nengine=files\nlocal_path=relative/www\n[source \"db\"]\nengine=mysql\ndatabase=www\npassword=hunter2\n")
        let output = sandbox.path("polyarchiv.yaml")
        let result = try CLI.run(["import-ini", sandbox.path("ini"), "-o", output])
        #expect(result.status == 1)
        #expect(result.stderr.contains("must be an absolute path") && result.stderr.contains("nothing was written"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output), "no invalid configuration is left")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("polyarchiv.secrets")), "no secret is written")
    }

    @Test func aPreviewWritesNoSecretFile() throws {
        let sandbox = try Sandbox()
        try sandbox.write("ini/www.collect", "[point]\nengine=files\nlocal_path=/var/backups/www\n[source \"db\"]\nengine=mysql\ndatabase=www\npassword=hunter2\n")
        let run = try Sandbox.shell("cd '\(sandbox.root.path)' && '\(CLI.binary.path)' import-ini '\(sandbox.path("ini"))' 2>&1")
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("collect_points:") && !run.output.contains("hunter2"), "\(run.output)")
        #expect(run.output.contains("were not written"), "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("polyarchiv-secrets")), "nothing in the current directory")
    }

    /// As the original did, a file this user cannot read is skipped with a warning (checked as `nobody`).
    @Test func unreadableFilesAreSkippedWithAWarning() throws {
        let sandbox = try Sandbox()
        try sandbox.write("ini/a.collect", "[point]\nengine=files\nlocal_path=/var/backups/a\n[source \"s\"]\nengine=local_files\nsource_path=/srv\ndestination_path=s\n")
        try sandbox.write("ini/secret.backup", "[point]\nengine=archive\nremote_url=file:///srv/{name}.tar.gz\n")
        chmod(sandbox.path("ini/secret.backup"), 0)
        try Sandbox.shell("chmod -R a+rX '\(sandbox.root.path)' && chmod 0 '\(sandbox.path("ini/secret.backup"))'")
        var command = [CLI.binary.path, "import-ini", sandbox.path("ini")]
        if geteuid() == 0 {
            guard try Sandbox.shell("command -v runuser").status == 0 else {
                Issue.record("runuser is needed to run as an unprivileged user")
                return
            }
            command = ["runuser", "-u", "nobody", "--"] + command
        }
        let run = try Sandbox.shell("cd /tmp && " + command.map { "'\($0)'" }.joined(separator: " "))
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("secret.backup is not readable by user"), "\(run.output)")
        #expect(run.output.contains("collect_points:"))
        #expect(!run.output.contains("backup_points:"))
    }
}
