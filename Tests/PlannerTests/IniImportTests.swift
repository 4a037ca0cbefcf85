import Foundation
import Pipeline
import Stages
import Testing
import TestSupport
@testable import Planner

/// The original documentation's examples, as INI directories: converted, validated, and their graphs checked.
@Suite struct IniImportTests {
    struct Converted {
        let pipeline: CompiledPipeline
        let result: IniImporter.Result
        let secrets: String
        /// Holds the files until the test ends.
        let scratch: TemporaryDirectory
        var ids: Set<String> { Set(pipeline.graph.nodes.map(\.id.description)) }
        var pairs: Set<String> { Set(pipeline.associations.map { "\($0.backupPoint)/\($0.collectPoint)" }) }
        func warned(_ fragment: String) -> Bool { result.warnings.contains { $0.message.contains(fragment) } }
    }

    /// The original configuration files in `scratch/original`.
    static func directory(_ files: [String: String], in scratch: TemporaryDirectory) throws -> String {
        let directory = scratch.path("original")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: directory + "/" + name, atomically: false, encoding: .utf8) }
        return directory
    }

    static func convert(_ files: [String: String]) throws -> Converted {
        let scratch = try TemporaryDirectory("pa-ini")
        let directory = try directory(files, in: scratch)
        let secrets = directory + "-secrets"
        let result = try IniImporter.convert(directory: directory, secretsDirectory: secrets)
        try result.writeSecrets()
        let output = directory + ".yaml"
        try result.yaml.write(toFile: output, atomically: false, encoding: .utf8)
        let pipeline = try Compiler.compile(try ConfigLoader.load(.file(output)), builtins: Fixtures.builtins, secrets: Secrets(environment: [:]))
        return Converted(pipeline: pipeline, result: result, secrets: secrets, scratch: scratch)
    }

    @Test func quickStart() throws {
        let converted = try Self.convert([
            "my-collect.collect": """
                [point]
                engine=git
                local_path=/tmp/local

                [source "files"]
                engine=rsync
                source_path=/tmp/source/files
                destination_path=./files

                [source "mysql"]
                engine=mysql
                host=localhost
                database=test
                user=test
                password=testtest
                destination_path=./mysql.sql
                """,
            "my-backup.backup": """
                [point]
                engine=archive
                remote_url=file:///tmp/remote/{name}.tar.gz
                """,
        ])
        #expect(converted.ids == ["dump:my-collect/files", "dump:my-collect/mysql", "collect:my-collect",
                                  "archive:my-collect/tar.gz", "upload:my-backup/my-collect", "verify:my-backup/my-collect"])
        #expect(converted.pipeline.destination("my-collect", "files") == "files/")
        #expect(converted.pipeline.destination("my-collect", "mysql") == "mysql.sql")
        #expect(converted.pipeline.node("collect:my-collect")?.engine == "git")
        // The password left the configuration for a file only its owner reads.
        #expect(!converted.result.yaml.contains("testtest"))
        let secret = try #require(converted.result.secretFiles.first)
        #expect(try String(contentsOfFile: secret, encoding: .utf8) == "testtest\n")
        let mode = try FileManager.default.attributesOfItem(atPath: secret)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(converted.warned("moved to"))
    }

    @Test func configurationWithTagsFrequenciesAndRetention() throws {
        let converted = try Self.convert([
            "global.global": """
                [global]
                rsync_executable=/usr/bin/rsync

                [hook "log"]
                engine=log
                path=/var/log/polyarchiv-{Y}-{m}.log
                events=after_backup
                """,
            "www.collect": """
                [point]
                engine=git
                local_path=/var/backups/www
                frequency=daily:3
                collect_point_tags=web
                commit_email=backup@example.org

                [source "site"]
                engine=local_files
                source_path=/srv/www
                destination_path=site
                exclude=*.tmp

                [source "db"]
                engine=postgressql
                database=www
                user=www
                destination_path=db.sql
                """,
            "intranet.collect": """
                [point]
                engine=files
                local_path=/var/backups/intranet
                excluded_backup_point_tags=*
                frequency=3600

                [source "wiki"]
                engine=local_files
                source_path=/srv/wiki
                destination_path=wiki
                """,
            "offsite.backup": """
                [point]
                engine=rolling_archive
                remote_url=ssh://backup@backup.example.org/srv/{name}/archive-{Y}-{m}-{d}_{H}-{M}.tar.gz
                daily_count=7
                weekly_count=4
                yearly_count=2
                hourly_count=0
                included_collect_point_tags=web
                frequency=weekly:6
                """,
            "mirror.backup": """
                [point]
                engine=synchronize
                remote_url=file:///srv/mirror/{name}
                metadata_url=file:///srv/metadata/{name}.json
                ssh_options=-o Compression=yes
                """,
        ])
        #expect(converted.pairs == ["offsite/www", "mirror/www"])
        #expect(converted.pipeline.point(named: "www")?.frequency == .daily(hour: 3, minute: 0))
        #expect(converted.pipeline.point(named: "intranet")?.frequency == .every(TimeSpan(hours: 1)))
        #expect(converted.pipeline.point(named: "offsite")?.frequency == .weekly(weekday: 7))
        #expect(converted.pipeline.backup("offsite", "www")?.parameters["keep"]
                == .map([("daily", .int(7)), ("weekly", .int(4)), ("yearly", .int(2))]))
        #expect(converted.ids.contains("notify:global/log/after"))
        #expect(converted.pipeline.node("collect:www")?.parameters.string("author_email") == "backup@example.org")
        #expect(converted.warned("`rsync_executable` has no equivalent"))
        #expect(converted.warned("`ssh_options` has no equivalent"))
        // Archives have no ssh transport: the original's ssh:// is sftp:// to the same server, and it says so.
        #expect(converted.pipeline.node("upload:offsite/www")?.parameters.string("url")?.hasPrefix("sftp://backup@backup.example.org/srv/www/") == true)
        #expect(converted.warned("archives are sent over sftp://, not ssh://"))
        #expect(converted.result.warnings.allSatisfy { $0.location == nil || $0.location!.line > 0 })
    }

    @Test func variablesAtEveryLevel() throws {
        let converted = try Self.convert([
            "site.collect": """
                [point]
                engine=files
                local_path=/var/backups/{group}/{name}

                [variables]
                group=web

                [source "files"]
                engine=local_files
                source_path=/srv/{name}
                destination_path=files
                """,
            "other.collect": """
                [point]
                engine=files
                local_path=/var/backups/other

                [source "files"]
                engine=local_files
                source_path=/srv/other
                destination_path=files
                """,
            "remote.backup": """
                [point]
                engine=git
                remote_url=file:///srv/git/{group}/{name}.git

                [variables]
                group=G1

                [variables "other"]
                group=G2
                """,
        ])
        #expect(converted.pipeline.node("collect:site")?.parameters.string("path") == "/var/backups/web/site.polyarchiv")
        // The collect point's own variable wins over the backup point's; [variables "cp"] wins over all.
        #expect(converted.pipeline.backup("remote", "site")?.parameters.string("url") == "file:///srv/git/web/site.git")
        #expect(converted.pipeline.backup("remote", "other")?.parameters.string("url") == "file:///srv/git/G2/other.git")
    }

    @Test func filters() throws {
        let converted = try Self.convert([
            "secure.collect": """
                [point]
                engine=archive
                local_path=/var/backups/secure
                archive_name=secure.tar.xz

                [source "data"]
                engine=local_files
                source_path=/srv/secure
                destination_path=data

                [filter "hash"]
                engine=hashes
                method=sha256

                [filter "crypt"]
                engine=encrypt
                password=s3cr3t
                """,
            "remote.backup": """
                [point]
                engine=archive
                remote_url=file:///srv/remote/{name}.tar.bz2

                [filter "crypt"]
                engine=encrypt
                """,
        ])
        #expect(converted.ids.isSuperset(of: ["filter:secure/hash", "filter:secure/crypt", "archive:secure/tar.bz2",
                                              "filter:remote/secure/crypt", "upload:remote/secure"]))
        #expect(!converted.result.yaml.contains("s3cr3t"))
        #expect(converted.warned("from GnuPG to the age format"))
        #expect(converted.warned("the original used `password`"))
        #expect(converted.result.secretFiles.count == 2)
    }

    @Test func simpleWebProject() throws {
        let converted = try Self.convert([
            "website.collect": """
                [point]
                engine=git
                local_path=/var/backups/website
                frequency=daily

                [source "files"]
                engine=local_files
                source_path=/var/www/website
                destination_path=files

                [source "db"]
                engine=postgressql
                host=localhost
                database=website
                user=website
                password=pg-secret
                destination_path=db.sql

                [hook "mail"]
                engine=email
                recipient=admin@example.org, ops@example.org
                hostname=smtp.example.org
                port=587
                encryption=starttls
                events=backup_error
                """,
            "gitlab.backup": """
                [point]
                engine=gitlab
                gitlab_url=https://gitlab.example.org/
                project_name=backups/{name}
                api_key=glpat-secret
                private_key=/root/.ssh/id_ed25519
                """,
            "restic.backup": """
                [point]
                engine=restic
                remote_url=s3:https://s3.example.org/bucket/{name}
                password=restic-secret
                remote_username=AKIA123
                remote_secret=aws-secret
                remote_auth_url=
                remote_region_name=
                remote_user_domain_name=
                remote_project_name=
                remote_project_domain_name=
                """,
        ])
        #expect(converted.pairs == ["gitlab/website", "restic/website"])
        for secret in ["pg-secret", "glpat-secret", "restic-secret", "aws-secret"] {
            #expect(!converted.result.yaml.contains(secret), "\(secret) leaked into the YAML")
        }
        #expect(converted.result.secretFiles.count == 4)
        let restic = try #require(converted.pipeline.backup("restic", "website")?.parameters)
        guard case .map(let environment)? = restic["environment"] else {
            Issue.record("restic has no environment")
            return
        }
        #expect(environment.first?.0 == "AWS_ACCESS_KEY_ID")
        guard case .secret = environment.last?.1 else { Issue.record("the S3 secret is not a secret"); return }
        #expect(converted.pipeline.node("notify:website/mail/after")?.parameters.string("smtp_url") == "smtp://smtp.example.org:587")
        #expect(converted.pipeline.backup("gitlab", "website")?.parameters.string("project") == "backups/website")
    }

    @Test func passwordsInURLsMoveToSecretFilesAndGitLabBuildsItsOwnURL() throws {
        let converted = try Self.convert([
            "www.collect": "[point]\nengine=files\nlocal_path=/var/backups/www/\n[source \"s\"]\nengine=local_files\nsource_path=/srv/www\ndestination_path=s\n",
            "dav.backup": """
                [point]
                engine=archive
                remote_url=https://backup:dav%40secret@dav.example.org/backups/{name}.tar.gz
                metadata_url=https://backup:dav%40secret@dav.example.org/meta/
                """,
            "lab.backup": """
                [point]
                engine=gitlab
                gitlab_url=https://gitlab.example.org/
                project_name=backups/{name}
                api_key=glpat-secret
                remote_url=https://gitlab.example.org/backups/www.git
                """,
        ])
        #expect(!converted.result.yaml.contains("dav%40secret") && !converted.result.yaml.contains("dav@secret"), "\(converted.result.yaml)")
        let dav = try #require(converted.pipeline.backup("dav", "www")?.parameters)
        #expect(dav.string("url") == "https://backup@dav.example.org/backups/www.tar.gz")
        #expect(converted.pipeline.node("upload:dav/www")?.parameters.string("metadata_url")
                == "https://backup@dav.example.org/meta/dav-www.host1.polyarchiv.json")
        // One secret file for the two URLs that carried the same password, holding it decoded.
        let file = try #require(converted.result.secretFiles.first { $0.hasSuffix("dav-password") })
        #expect(converted.result.secretFiles.filter { $0.contains("dav-") }.count == 1)
        #expect(try String(contentsOfFile: file, encoding: .utf8).hasPrefix("dav@secret"))
        #expect(converted.warned("`remote_url` has no equivalent in polyarchiv; dropped (the original replaced it"))
        #expect(converted.pipeline.backup("lab", "www")?.parameters.string("project") == "backups/www")
        #expect(converted.result.yaml.contains("path: /var/backups/www.polyarchiv\n"), "\(converted.result.yaml)")
    }

    // MARK: - Malformed input

    func errors(_ files: [String: String]) -> [Diagnostic] {
        do {
            let scratch = try TemporaryDirectory("pa-ini")
            _ = try IniImporter.convert(directory: try Self.directory(files, in: scratch), secretsDirectory: scratch.path("secrets"))
            return []
        } catch let error as ConfigError {
            return error.diagnostics
        } catch {
            return [Diagnostic("\(error)", at: nil)]
        }
    }

    @Test func missingPointSection() {
        let found = errors(["a.collect": "[source \"x\"]\nengine=local_files\n"])
        #expect(found.contains { $0.message.contains("the [point] section is missing") && $0.location?.file.hasSuffix("a.collect") == true })
    }

    @Test func unknownEngine() {
        let found = errors(["a.collect": "[point]\nengine=tarball\nlocal_path=/x\n"])
        #expect(found.contains { $0.message.contains("unknown collect point engine `tarball`") && $0.location?.line == 2 })
        let source = errors(["a.collect": "[point]\nengine=files\nlocal_path=/x\n[source \"s\"]\nengine=oracle\n"])
        #expect(source.contains { $0.message.contains("unknown source engine `oracle`") && $0.location?.line == 5 })
    }

    @Test func duplicateSectionsAndOptions() {
        let sections = errors(["a.collect": "[point]\nengine=files\n[point]\nengine=git\n"])
        #expect(sections.contains { $0.message.contains("section [point] appears twice: here and at line 1") && $0.location?.line == 3 })
        let options = errors(["a.backup": "[point]\nengine=git\nENGINE=archive\n"])
        #expect(options.contains { $0.message.contains("option `engine` appears twice") && $0.location?.line == 3 })
    }

    @Test func optionBeforeAnySection() {
        let found = errors(["a.collect": "engine=files\n[point]\nengine=files\n"])
        #expect(found.contains { $0.message.contains("comes before any [section] header") && $0.location?.line == 1 })
    }
}
