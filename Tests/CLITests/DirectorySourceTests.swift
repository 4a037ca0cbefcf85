import Foundation
import Testing
import TestSupport

/// ldap, dovecot and remote_files sources against real servers on loopback (slapd, dovecot, sshd).
@Suite(.serialized) struct DirectorySourceTests {
    @Test func ldapBySlapcatAndLdapsearchRestoresBySlapaddAndLdapadd() throws {
        guard let server = try TestServer.start("slapd.py") else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        let password = try String(contentsOfFile: server.string("password_file"), encoding: .utf8)
        try sandbox.configure("""
            collect_points:
              ldap:
                engine: files
                path: $ROOT/collect
                sources:
                  local: {engine: ldap, slapd_config: \(server.string("slapd_config")), database: 1}
                  remote: {engine: ldap, url: "\(server.string("url"))", bind_dn: "\(server.string("bind_dn"))", password_file: \(server.string("password_file")), base: "\(server.string("suffix"))"}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        let watcher = ProcessWatcher(secrets: [password])
        let first = try sandbox.apply()
        let watched = watcher.stop()
        #expect(first.status == 0, "\(first.stdout)")
        #expect(watched.leaks.isEmpty, "\(watched.leaks)")
        let slapcat = try String(contentsOfFile: sandbox.path("collect/local.ldif"), encoding: .utf8)
        #expect(slapcat.contains("dn: uid=alice,ou=people,dc=example,dc=org") && slapcat.contains("entryCSN:"))
        let search = try String(contentsOfFile: sandbox.path("collect/remote.ldif"), encoding: .utf8)
        #expect(search.contains("dn: uid=bob,ou=people,dc=example,dc=org") && !search.contains("entryCSN:"))
        #expect(try sandbox.apply(["--force"]).stdout.contains("cached       collect:ldap"), "unchanged directory, same dumps")

        // ldapadd: an entry deleted on the server comes back.
        let bind = "-x -H \(server.string("url")) -D '\(server.string("bind_dn"))' -y '\(server.string("password_file"))'"
        let before = try Sandbox.shell("ldapsearch \(bind) -LLL -o ldif-wrap=no -b '\(server.string("suffix"))' '(objectClass=*)' '*'").output
        #expect(try Sandbox.shell("ldapdelete \(bind) 'uid=bob,ou=people,dc=example,dc=org'").status == 0)
        try FileManager.default.removeItem(atPath: sandbox.state)
        let added = try CLI.run(["restore", "-c", sandbox.config, "--collect-point", "ldap", "--target", sandbox.path("r1"),
                                              "--source", "remote", "--replace"])
        #expect(added.status == 0, "\(added.stderr)")
        let after = try Sandbox.shell("ldapsearch \(bind) -LLL -o ldif-wrap=no -b '\(server.string("suffix"))' '(objectClass=*)' '*'").output
        #expect(Set(after.components(separatedBy: "\n\n")) == Set(before.components(separatedBy: "\n\n")))

        // slapadd into a fresh database: slapcat gives back what was backed up.
        let fresh = sandbox.path("fresh-db")
        try FileManager.default.createDirectory(atPath: fresh, withIntermediateDirectories: true)
        let config = try String(contentsOfFile: server.string("slapd_config"), encoding: .utf8)
            .replacingOccurrences(of: server.string("data_dir"), with: fresh)
        try config.write(toFile: sandbox.path("fresh.conf"), atomically: false, encoding: .utf8)
        let loaded = try CLI.run(["restore", "-c", sandbox.config, "--collect-point", "ldap", "--target", sandbox.path("r2"),
                                               "--source", "local", "--into", sandbox.path("fresh.conf")])
        #expect(loaded.status == 0, "\(loaded.stderr)")
        let recat = try Sandbox.shell("slapcat -f '\(sandbox.path("fresh.conf"))' -n 1").output
        #expect(recat == slapcat, "slapcat of the restored database equals the backup")
    }

    @Test func dovecotMailIsBackedUpAndImportedBesideNewMail() throws {
        guard let server = try TestServer.start("dovecot.py") else { return }
        defer { server.stop() }
        let config = server.string("config")
        let sandbox = try Sandbox()
        try sandbox.configure("""
            collect_points:
              mail:
                engine: files
                path: $ROOT/collect
                sources:
                  alice: {engine: dovecot, user: alice, config: \(config)}
                  everyone: {engine: dovecot, config: \(config)}
                  masked: {engine: dovecot, user: "b*", config: \(config)}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        let first = try sandbox.apply()
        #expect(first.status == 0, "\(first.stdout)")
        let messages = try Sandbox.shell("find '\(sandbox.path("collect/alice/alice/mail"))' -path '*/new/*' -o -path '*/cur/*' -type f | wc -l").output
        #expect(messages.trimmingCharacters(in: .whitespacesAndNewlines) == "3")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("collect/everyone/bob/mail")))
        // A mask (the original's user_mask, doveadm's -u): every user it matches, and only those.
        #expect(try FileManager.default.contentsOfDirectory(atPath: sandbox.path("collect/masked")) == ["bob"])
        #expect(try Sandbox.shell("find '\(sandbox.path("collect"))' -name 'dovecot.index*'").output.isEmpty)
        #expect(try sandbox.apply(["--force"]).stdout.contains("cached       collect:mail"), "unchanged mail, same tree")
        // Restore: alice's mail comes back in a new folder, her INBOX (with a message since) untouched.
        try FileManager.default.removeItem(atPath: sandbox.state)
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--collect-point", "mail", "--target", sandbox.path("r"),
                                                 "--source", "alice"])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(restored.stdout.contains("into its folder restored-"), "\(restored.stdout)")
        let status = try Sandbox.shell("doveadm -c '\(config)' mailbox status -u alice messages '*'").output
        #expect(status.contains("INBOX messages=3"), "\(status)")
        #expect(status.range(of: #"restored-[^ ]*/INBOX messages=3"#, options: .regularExpression) != nil, "\(status)")
        // A restore whose folder name is taken (another restore in the same second) imports into a folder of its own.
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd'T'HHmmss"
        let start = Date()
        for second in 0..<30 {
            let name = "restored-" + formatter.string(from: start.addingTimeInterval(Double(second)))
            _ = try Sandbox.shell("doveadm -c '\(config)' mailbox create -u alice '\(name)'")
        }
        let again = try CLI.run(["restore", "-c", sandbox.config, "--collect-point", "mail", "--target", sandbox.path("r2"), "--source", "alice"])
        #expect(again.status == 0, "\(again.stderr)")
        let after = try Sandbox.shell("doveadm -c '\(config)' mailbox status -u alice messages '*'").output
        #expect(after.range(of: #"restored-[0-9T-]*-2/INBOX messages=3"#, options: .regularExpression) != nil, "\(after)")
        #expect(!after.contains("messages=6"), "no folder got the mail twice: \(after)")
    }

    @Test func remoteFilesArePulledOverSSHWithTheHostKeyChecked() throws {
        guard let server = try TestServer.start("sshd.py") else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        try sandbox.write("remote/site/index.html", "<h1>remote</h1>\n")
        try sandbox.write("remote/site/cache/tmp.bin", "skip me\n")
        try sandbox.write("remote/site/docs/a.txt", "a\n")
        let url = "ssh://root@127.0.0.1:\(server.port)\(sandbox.path("remote/site"))"
        func configure(_ hostKey: String) throws {
            try sandbox.configure("""
                collect_points:
                  web:
                    engine: files
                    path: $ROOT/collect
                    sources:
                      site: {engine: remote_files, url: "\(url)", private_key: \(server.string("private_key")), \(hostKey), exclude: [cache/]}
                """)
        }
        try configure("known_hosts: \(server.string("known_hosts"))")
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        #expect(try String(contentsOfFile: sandbox.path("collect/site/index.html"), encoding: .utf8) == "<h1>remote</h1>\n")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("collect/site/cache/tmp.bin")))
        // Changes and deletions on the remote side arrive.
        try FileManager.default.removeItem(atPath: sandbox.path("remote/site/docs/a.txt"))
        try sandbox.write("remote/site/index.html", "<h1>two</h1>\n")
        try configure("host_key_sha256: \"SHA256:\(server.string("host_key_sha256"))\"")
        #expect(try sandbox.apply(["--force"]).status == 0)
        #expect(try String(contentsOfFile: sandbox.path("collect/site/index.html"), encoding: .utf8) == "<h1>two</h1>\n")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("collect/site/docs/a.txt")))
        // A host key that does not match: refused, one clear line.
        try configure("host_key_sha256: \"SHA256:AAAAC3NzaC1lZDI1NTE5AAAAIBogusBogusBogusBogusBogusBogusBogus\"")
        let refused = try sandbox.apply(["--force"])
        #expect(refused.status == 2)
        #expect(refused.stdout.contains("does not match host_key_sha256"), "\(refused.stdout)")
        // Unknown to known_hosts: refused too.
        try sandbox.write("empty_known_hosts", "")
        try configure("known_hosts: $ROOT/empty_known_hosts".replacingOccurrences(of: "$ROOT", with: sandbox.root.path))
        let unknown = try sandbox.apply(["--force"])
        #expect(unknown.status == 2)
        #expect(unknown.stdout.contains("Host key verification failed"), "\(unknown.stdout)")
    }

    @Test func remoteFilesArePulledOverSFTPWithModesAndMtimes() throws {
        guard let server = try TestServer.start("sshd.py") else { return }
        defer { server.stop() }
        let sandbox = try Sandbox()
        try sandbox.write("remote/site/index.html", "<h1>sftp</h1>\n")
        try sandbox.write("remote/site/my docs/a b.txt", "spaced\n")
        try sandbox.write("remote/site/cache/tmp.bin", "skip me\n")
        try sandbox.write("remote/site/bin/run.sh", "#!/bin/sh\n")
        chmod(sandbox.path("remote/site/bin/run.sh"), 0o750)
        symlink("index.html", sandbox.path("remote/site/home.html"))
        let url = "sftp://root@127.0.0.1:\(server.port)\(sandbox.path("remote/site"))"
        try sandbox.configure("""
            collect_points:
              web:
                engine: files
                path: $ROOT/collect
                sources:
                  site: {engine: remote_files, url: "\(url)", private_key: \(server.string("private_key")), host_key_sha256: "\(server.string("host_key_sha256"))", exclude: [cache/]}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        #expect(try Sandbox.shell("diff -r --no-dereference -x cache '\(sandbox.path("remote/site"))' '\(sandbox.path("collect/site"))'").status == 0)
        #expect(try Sandbox.shell("stat -c %a '\(sandbox.path("collect/site/bin/run.sh"))'").output == "750\n")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("collect/site/cache")))
        // Nothing changed remotely: the same tree, a cache hit downstream.
        #expect(try sandbox.apply(["--force"]).stdout.contains("cached       collect:web"))
        try FileManager.default.removeItem(atPath: sandbox.path("remote/site/my docs/a b.txt"))
        #expect(try sandbox.apply(["--force"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("collect/site/my docs/a b.txt")))
        // A wrong host key: refused.
        try sandbox.configure(try String(contentsOfFile: sandbox.config, encoding: .utf8)
            .replacingOccurrences(of: server.string("host_key_sha256"), with: "AAAABogusBogusBogusBogusBogusBogusBogusBogusBo"))
        let refused = try sandbox.apply(["--force"])
        #expect(refused.status == 2)
        #expect(refused.stdout.contains("mismatch sha256 fingerprint"), "\(refused.stdout)")
    }
}
