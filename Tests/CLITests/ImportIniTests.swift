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

    /// A host that ran the original: its collect point directory holds the original's backups/ and
    /// metadata/, its git remote has the original's `master`, its metadata_url is a directory. The
    /// converted configuration validates, runs on the first night, restores, and touches none of it.
    @Test func theFirstNightAfterTheOriginalRunsAndLeavesItsFilesAlone() throws {
        let sandbox = try Sandbox()
        let root = sandbox.root.path
        try sandbox.write("src/index.html", "<h1>site</h1>\n")
        try sandbox.write("old/www/backups/site/index.html", "the original's copy\n")
        try sandbox.write("old/www/metadata/www.json", "{}\n")
        let remote = sandbox.path("remote/www.git")
        #expect(try Sandbox.shell("""
            git init -q --bare -b master '\(remote)' && git init -q -b master '\(root)/seed' && cd '\(root)/seed' && echo old > f \
            && git add f && git -c user.name=o -c user.email=o@h commit -qm original && git push -q '\(remote)' master
            """).status == 0)
        try sandbox.write("ini/www.collect", """
            [point]
            engine=git
            local_path=\(root)/old/www
            [source "site"]
            engine=local_files
            source_path=\(root)/src
            destination_path=site
            """)
        try sandbox.write("ini/out.backup", """
            [point]
            engine=archive
            remote_url=file://\(root)/backups/{name}.tar.gz
            metadata_url=file://\(root)/meta/
            """)
        try sandbox.write("ini/mirror.backup", "[point]\nengine=git\nremote_url=file://\(remote)\n")
        let imported = try CLI.run(["import-ini", sandbox.path("ini"), "-o", sandbox.config])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stderr.contains("collects into \(root)/old/www.polyarchiv"), "\(imported.stderr)")
        #expect(imported.stderr.contains("branch `main`"), "\(imported.stderr)")
        let applied = try sandbox.apply()
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        // The original's files and branch are as they were.
        #expect(try String(contentsOfFile: sandbox.path("old/www/backups/site/index.html"), encoding: .utf8) == "the original's copy\n")
        #expect(try String(contentsOfFile: sandbox.path("old/www/metadata/www.json"), encoding: .utf8) == "{}\n")
        #expect(try Sandbox.shell("git --git-dir='\(remote)' log --format=%s master").output == "original\n")
        #expect(try Sandbox.shell("git --git-dir='\(remote)' show main:site/index.html").output == "<h1>site</h1>\n")
        // The trailing-slash metadata_url is a directory holding this host's document.
        #expect(FileManager.default.fileExists(atPath: sandbox.path("meta/" + Sandbox.document("out", "www"))))
        try FileManager.default.removeItem(atPath: sandbox.state)
        for point in ["out", "mirror"] {
            // The git remote's HEAD is still the original's `master`: its `main` is found all the same.
            let restored = try CLI.run(["restore", "-c", sandbox.config, "--from", point, "--target", sandbox.path("r-\(point)")])
            #expect(restored.status == 0, "\(point): \(restored.stderr)")
            #expect(try String(contentsOfFile: sandbox.path("r-\(point)/www/site/index.html"), encoding: .utf8) == "<h1>site</h1>\n")
        }
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

    /// The original's own test configuration synchronizes two collect points into one fixed folder: the
    /// conversion gives each its own subfolder (with a warning), validates, and a run puts each apart; an
    /// archive with one fixed name gets the same.
    @Test func aFixedRemoteSharedByCollectPointsGetsASubfolderEach() throws {
        let sandbox = try Sandbox()
        let root = sandbox.root.path
        try sandbox.write("input/some-files/file01", "one\n")
        for name in ["local1", "local2"] {
            try sandbox.write("ini/\(name).collect", """
                [point]
                engine=files
                local_path=\(root)/locals/\(name)
                [source "local_files"]
                engine=rsync
                source_path=\(root)/input/some-files/
                destination_path=files
                """)
        }
        try sandbox.write("ini/remote1-rsync-file.backup", """
            [point]
            engine=synchronize
            remote_url=file://\(root)/backup_points/remote1
            metadata_url=file://\(root)/metadata/rsync/{name}.json
            """)
        try sandbox.write("ini/all.backup", "[point]\nengine=archive\nremote_url=file://\(root)/archives/all.tar.gz\n")
        let output = sandbox.path("polyarchiv.yaml")
        let result = try CLI.run(["import-ini", sandbox.path("ini"), "-o", output])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("backup point `remote1-rsync-file` receives `local1`, `local2` at one fixed place, "
                                       + "file://\(root)/backup_points/remote1, where they would overwrite each other: each now gets its "
                                       + "own subfolder, file://\(root)/backup_points/remote1/{name}"), "\(result.stderr)")
        #expect(result.stderr.contains("file://\(root)/archives/{name}/all.tar.gz"), "\(result.stderr)")
        let run = try CLI.run(["apply", "-c", output, "--state-dir", sandbox.state])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        for name in ["local1", "local2"] {
            #expect(FileManager.default.fileExists(atPath: sandbox.path("backup_points/remote1/\(name)/files/file01")), "\(name)")
            #expect(FileManager.default.fileExists(atPath: sandbox.path("archives/\(name)/all.tar.gz")), "\(name)")
        }
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
