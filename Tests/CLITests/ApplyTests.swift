import Foundation
import Testing
import TestSupport

/// `polyarchiv apply` end to end: real files, a real SQLite database, archives checked by tar and zstd.
@Suite(.serialized) struct ApplyTests {
    static let pipeline = """
        collect_points:
          site:
            engine: files
            path: $ROOT/collect/{name}
            sources:
              www: {engine: files, path: $ROOT/data/www, exclude: ["*.tmp", "cache/"]}
              db: {engine: sqlite, path: $ROOT/data/app.sqlite3}
              users: {engine: command, command: "printf 'alice\\\\nbob\\\\n'", destination: users.txt}
            filters: [{engine: hashes}]
        backup_points:
          local:
            engine: archive
            url: "file://$ROOT/backups/{name}.tar.zst"
        """

    func makeSandbox() throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.write("data/www/index.html", "<h1>hello</h1>\n")
        try sandbox.write("data/www/assets/style.css", "body { color: red }\n")
        try sandbox.write("data/www/draft.tmp", "scratch\n")
        try sandbox.write("data/www/cache/page", "cached\n")
        try sandbox.write("data/www/Főtanúsítvány.pem", "non-ASCII names\n")
        try sandbox.write("data/www/日本/ファイル.txt", "and more\n")
        try Sandbox.shell("ln -s index.html '\(sandbox.path("data/www/home.html"))'")
        try Sandbox.shell("chmod 0640 '\(sandbox.path("data/www/index.html"))'")
        try Sandbox.shell("sqlite3 '\(sandbox.path("data/app.sqlite3"))' \"CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);\"")
        try sandbox.configure(Self.pipeline)
        return sandbox
    }

    @Test func backUpThenRestoreTheArchiveAndCompare() throws {
        let sandbox = try makeSandbox()
        let first = try sandbox.apply()
        #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")
        let archive = sandbox.path("backups/site.tar.zst")
        // Independent tools judge the result: zstd and tar read the archive, sha256sum checks the index.
        #expect(try Sandbox.shell("zstd -t '\(archive)'").status == 0)
        let restored = sandbox.path("restored")
        try FileManager.default.createDirectory(atPath: restored, withIntermediateDirectories: true)
        let extract = try Sandbox.shell("tar -C '\(restored)' -xf '\(archive)'")
        #expect(extract.status == 0, "\(extract.output)")
        let diff = try Sandbox.shell("diff -r --no-dereference '\(sandbox.path("data/www"))' '\(restored)/www' -x '*.tmp' -x cache")
        #expect(diff.status == 0, "\(diff.output)")
        #expect(try Sandbox.shell("cd '\(restored)' && sha256sum -c SHA256SUMS").status == 0)
        #expect(try String(contentsOfFile: restored + "/users.txt", encoding: .utf8) == "alice\nbob\n")
        let rows = try Sandbox.shell("sqlite3 '\(restored)/db.sqlite3' 'SELECT count(*) FROM t'")
        #expect(rows.output.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        #expect(try Sandbox.shell("stat -c %a '\(restored)/www/index.html'").output.hasPrefix("640"))
        #expect(try Sandbox.shell("readlink '\(restored)/www/home.html'").output.hasPrefix("index.html"))
        // The collect point holds the same tree.
        let collected = try Sandbox.shell("diff -r --no-dereference -x .polyarchiv-collect-point '\(restored)' '\(sandbox.path("collect/site"))'")
        #expect(collected.status == 0, "\(collected.output)")
    }

    @Test func anUnchangedSecondRunRerunsNothingDownstreamAndWritesNothing() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        let archive = sandbox.path("backups/site.tar.zst")
        let before = try FileManager.default.attributesOfItem(atPath: archive)[.modificationDate] as? Date
        let second = try sandbox.apply()
        #expect(second.status == 0)
        for id in ["filter:site/hashes", "collect:site", "archive:site/tar.zst", "upload:local/site"] {
            #expect(second.stdout.contains("cached   \(id)"), "\(id) should be cached:\n\(second.stdout)")
        }
        let after = try FileManager.default.attributesOfItem(atPath: archive)[.modificationDate] as? Date
        #expect(before == after)
        // One changed row: a new dump digest, and everything downstream runs again.
        try Sandbox.shell("sqlite3 '\(sandbox.path("data/app.sqlite3"))' 'INSERT INTO t VALUES (3)'")
        let third = try sandbox.apply()
        #expect(third.stdout.contains("done     upload:local/site"), "\(third.stdout)")
    }

    @Test func whatWasDeletedOrOverwrittenOutsideIsMadeAgain() throws {
        let sandbox = try Sandbox()
        try sandbox.write("value", "A\n")
        try sandbox.configure("""
            collect_points:
              box:
                engine: files
                path: $ROOT/collect
                sources: {v: {engine: command, command: "cat $ROOT/value", destination: value.txt}}
            backup_points:
              out: {engine: archive, url: "file://$ROOT/backups/fixed.tar.gz"}
            """)
        func archived() throws -> String {
            try Sandbox.shell("tar -xzOf '\(sandbox.path("backups/fixed.tar.gz"))' value.txt").output
        }
        #expect(try sandbox.apply().status == 0)
        try sandbox.write("value", "B\n")
        #expect(try sandbox.apply().status == 0)
        #expect(try archived() == "B\n")
        // Back to A: every stage's key was seen on the first run, but the places now hold B.
        try sandbox.write("value", "A\n")
        let back = try sandbox.apply()
        #expect(back.stdout.contains("done     upload:out/box"), "\(back.stdout)")
        #expect(try archived() == "A\n")
        #expect(try String(contentsOfFile: sandbox.path("collect/value.txt"), encoding: .utf8) == "A\n")
        // One file deleted from the collect point: put back.
        try FileManager.default.removeItem(atPath: sandbox.path("collect/value.txt"))
        #expect(try sandbox.apply().status == 0)
        #expect(try String(contentsOfFile: sandbox.path("collect/value.txt"), encoding: .utf8) == "A\n")
        // Deleted outside polyarchiv: made again although nothing changed.
        try FileManager.default.removeItem(atPath: sandbox.path("backups/fixed.tar.gz"))
        try FileManager.default.removeItem(atPath: sandbox.path("collect"))
        let again = try sandbox.apply()
        #expect(again.status == 0)
        #expect(try archived() == "A\n")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("collect/value.txt")))
    }

    @Test func anUnchangedDumpHasTheSameDigest() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        #expect(try sandbox.apply().status == 0)
        let digests = try sandbox.query("SELECT outputs FROM executions WHERE node = 'dump:site/db' AND state = 'succeeded'")
        #expect(digests.count == 2)
        #expect(Set(digests).count == 1)
    }

    /// The store keeps no copy of a collect point's files: the collect point holds them, and what reads them
    /// checks them against their digests. One damaged in place (same size, same mtime) is found, put back from
    /// the source, and never shipped.
    @Test func aDamagedCollectPointFileIsFoundPutBackAndNeverShipped() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        let digest = try Sandbox.shell("sha256sum '\(sandbox.path("data/www/index.html"))' | cut -d' ' -f1").output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!FileManager.default.fileExists(atPath: "\(sandbox.state)/store/objects/\(digest.prefix(2))/\(digest.dropFirst(2))"),
                "the file's bytes were not copied into the store")
        // Same size and mtime, different bytes: only the digest check can tell. Another file changes so the archive is
        // rebuilt and reads the damaged one.
        let copy = sandbox.path("collect/site/www/index.html")
        try Sandbox.shell("cp -p '\(copy)' '\(copy).times' && printf '<h1>HELLO</h1>\\n' > '\(copy)' && touch -r '\(copy).times' '\(copy)' && rm '\(copy).times'")
        try sandbox.write("data/www/assets/style.css", "body { color: blue }\n")
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("no longer holds what was read"), "the damage is reported:\n\(run.stdout)")
        let restored = sandbox.path("restored")
        try FileManager.default.createDirectory(atPath: restored, withIntermediateDirectories: true)
        #expect(try Sandbox.shell("tar -C '\(restored)' -xf '\(sandbox.path("backups/site.tar.zst"))'").status == 0)
        #expect(try String(contentsOfFile: restored + "/www/index.html", encoding: .utf8) == "<h1>hello</h1>\n")
        #expect(try String(contentsOfFile: copy, encoding: .utf8) == "<h1>hello</h1>\n", "the collect point is whole again")
    }

    /// An archive in the store damaged in place (same size) is not uploaded: bytes leave only through a check
    /// of their digest. The next upload rebuilds it.
    @Test func aDamagedArchiveObjectIsNeverUploaded() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        let archive = sandbox.path("backups/site.tar.zst")
        let digest = try Sandbox.shell("sha256sum '\(archive)' | cut -c1-64").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let object = "\(sandbox.state)/store/objects/\(digest.prefix(2))/\(digest.dropFirst(2))"
        // The backup point loses its copy, and the store's is damaged in place (a flipped byte, same size).
        try FileManager.default.removeItem(atPath: archive)
        try Sandbox.shell("python3 -c \"import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=255; "
                          + "open(p,'r+b').write(b)\" '\(object)'")
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stdout.contains("corrupt"), "\(run.stdout)")
        #expect(try Sandbox.shell("sha256sum '\(archive)' | cut -c1-64").output.hasPrefix(digest), "the archive uploaded is the right one")
        #expect(try Sandbox.shell("zstd -t '\(archive)'").status == 0)
    }

    @Test func independentCollectPointsRunAtTheSameTime() throws {
        let sandbox = try Sandbox()
        try sandbox.configure("""
            collect_points:
              one:
                engine: files
                path: $ROOT/c/one
                sources: {slow: {engine: command, command: "sleep 2; echo one"}}
              two:
                engine: files
                path: $ROOT/c/two
                sources: {slow: {engine: command, command: "sleep 2; echo two"}}
            """)
        #expect(try sandbox.apply(["--jobs", "2"]).status == 0)
        let rows = try sandbox.query("SELECT started, ended FROM executions WHERE node LIKE 'dump:%' AND state = 'succeeded'")
        let spans = rows.map { $0.split(separator: "|").compactMap { Double($0) } }
        #expect(spans.count == 2)
        guard spans.count == 2, spans.allSatisfy({ $0.count == 2 }) else { return }
        #expect(spans[0][0] < spans[1][1] && spans[1][0] < spans[0][1], "the two dumps overlap in time: \(spans)")
    }

    @Test func dailyFrequencySkipsASecondRunTheSameDayAndForceRunsIt() throws {
        let sandbox = try makeSandbox()
        let config = try String(contentsOfFile: sandbox.config, encoding: .utf8)
        let daily = config.replacingOccurrences(of: "    path: \(sandbox.root.path)/collect/{name}",
                                                with: "    path: \(sandbox.root.path)/collect/{name}\n    frequency: daily")
            .replacingOccurrences(of: "    engine: archive\n", with: "    engine: archive\n    frequency: daily\n")
        try daily.write(toFile: sandbox.config, atomically: false, encoding: .utf8)
        #expect(try CLI.run(["plan", "-c", sandbox.config, "--state-dir", sandbox.state, "--detailed-exitcode"]).status == 2)
        #expect(try sandbox.apply().status == 0)
        let second = try sandbox.apply()
        #expect(second.status == 0)
        #expect(second.stdout.contains("0 succeeded, 0 cached, 8 skipped"), "\(second.stdout)")
        #expect(second.stdout.contains("frequency daily@00:00: next due"))
        let plan = try CLI.run(["plan", "-c", sandbox.config, "--state-dir", sandbox.state, "--detailed-exitcode"])
        #expect(plan.status == 0, "\(plan.stdout)")
        let forced = try sandbox.apply(["--force"])
        #expect(forced.stdout.contains("done     dump:site/www"), "\(forced.stdout)")
    }

    @Test func aFailureBlocksOnlyWhatDependsOnIt() throws {
        let sandbox = try Sandbox()
        try sandbox.configure("""
            collect_points:
              good:
                engine: files
                path: $ROOT/c/good
                sources: {x: {engine: command, command: "echo fine"}}
              bad:
                engine: files
                path: $ROOT/c/bad
                sources: {x: {engine: command, command: "echo 'database is on fire' >&2; exit 3"}}
            backup_points:
              out: {engine: archive, url: "file://$ROOT/b/{name}.tar.gz"}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 2)
        #expect(run.stdout.contains("FAILED   dump:bad/x"))
        #expect(run.stdout.contains("exited with status 3"))
        #expect(run.stdout.contains("database is on fire"))
        #expect(run.stdout.contains("blocked  collect:bad"))
        #expect(run.stdout.contains("done     upload:out/good"))
        #expect(FileManager.default.fileExists(atPath: sandbox.path("b/good.tar.gz")))
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("b/bad.tar.gz")))
        #expect(try Sandbox.shell("gzip -t '\(sandbox.path("b/good.tar.gz"))'").status == 0)
        let check = try CLI.run(["check", "-c", sandbox.config, "--state-dir", sandbox.state])
        #expect(check.status == 2)
        #expect(check.stdout.hasPrefix("POLYARCHIV CRITICAL - bad: last run failed"))
    }

    @Test func aCollectPointRefusesToWipeADirectoryItDoesNotOwn() throws {
        let sandbox = try Sandbox()
        try sandbox.write("precious/keep.txt", "do not delete\n")
        try sandbox.write("data/a.txt", "a\n")
        try sandbox.configure("""
            collect_points:
              www:
                engine: files
                path: $ROOT/precious
                sources: {x: {engine: files, path: $ROOT/data}}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 2)
        #expect(run.stdout.contains("is not empty and was not made by polyarchiv"), "\(run.stdout)")
        #expect(try String(contentsOfFile: sandbox.path("precious/keep.txt"), encoding: .utf8) == "do not delete\n")
    }

    /// A name that is not UTF-8 (Latin-1, common in old uploads and Samba shares) is backed up as its bytes
    /// with everything else (it used to fail the whole source).
    @Test func aNameThatIsNotUTF8IsBackedUpAsItsBytes() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/fine.txt", "fine\n")
        try Sandbox.shell("python3 -c \"open(b'\(sandbox.path("data"))/caf\\xe9.txt', 'w').write('latin-1 name')\"")
        try sandbox.configure("""
            collect_points:
              box:
                engine: files
                path: $ROOT/collect
                sources: {data: {engine: files, path: $ROOT/data}}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        let copy = try Sandbox.shell("cat \"$(printf '\(sandbox.path("collect/data"))/caf\\351.txt')\"")
        #expect(copy.output == "latin-1 name", "\(copy.output)")
    }

    /// A URL no transport speaks is caught when the configuration is read, not at 02:30.
    @Test func anArchiveURLWithNoTransportIsAConfigurationError() throws {
        let sandbox = try Sandbox()
        try sandbox.configure("""
            collect_points:
              www:
                engine: files
                path: $ROOT/c
                sources: {x: {engine: command, command: "echo x"}}
            backup_points:
              odd: {engine: archive, url: "git://backup.invalid/x.tar.gz"}
            """)
        for command in ["validate", "plan", "apply"] {
            let run = try sandbox.run(command)
            #expect(run.status == 1, "\(command): \(run.stdout)")
            #expect(run.stderr.contains("config.yaml:7:") && run.stderr.contains("archives cannot be sent over git://"), "\(run.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("c")), "nothing ran")
    }

    @Test func aSecondApplyIsRefusedWithTheHoldersPID() throws {
        let sandbox = try Sandbox.withCommand("sleep 3", collectPoint: "slow", source: "x")
        let holder = try sandbox.startLockHolder()
        defer { holder.waitUntilExit() }
        let second = try sandbox.apply()
        #expect(second.status == 75, "a held lock has its own exit status (EX_TEMPFAIL)")
        #expect(second.stderr.contains("locked by PID \(holder.processIdentifier), "), "\(second.stderr)")
        #expect(second.stderr.contains("--lock-timeout"))
        let gc = try CLI.run(["gc", "--state-dir", sandbox.state])
        #expect(gc.status == 75)
        #expect(gc.stderr.contains("wait for it to finish, then run gc again") && !gc.stderr.contains("--lock-timeout"), "\(gc.stderr)")
    }

    @Test func gcOfAMissingStateDirectoryIsAnError() throws {
        let gc = try CLI.run(["gc", "--state-dir", "/nonexistent/typo"])
        #expect(gc.status == 1)
        #expect(gc.stderr.contains("there is no polyarchiv state directory at /nonexistent/typo"), "\(gc.stderr)")
    }

    @Test func sigtermStopsTheRunCleanlyWithStatus130() throws {
        let sandbox = try Sandbox.withCommand("sleep 30", collectPoint: "slow", source: "x")
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["apply", "-c", sandbox.config, "--state-dir", sandbox.state]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        var waited = 0
        while waited < 100, (try? sandbox.query("SELECT count(*) FROM executions WHERE state = 'running'").first) != "1" {
            usleep(100_000)
            waited += 1
        }
        let start = Date()
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        #expect(Date().timeIntervalSince(start) < 10, "the child was not stopped")
        #expect(try sandbox.query("SELECT status FROM runs") == ["interrupted"])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: sandbox.state + "/store/tmp")
        #expect(leftovers.isEmpty, "temporary files remain: \(leftovers)")
    }

    @Test func dryRunWritesNothing() throws {
        let sandbox = try makeSandbox()
        let run = try sandbox.apply(["--dry-run"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("run      dump:site/www"))
        #expect(!FileManager.default.fileExists(atPath: sandbox.state))
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("backups")))
    }

    @Test func jsonEventsAreOneObjectPerLine() throws {
        let sandbox = try makeSandbox()
        let run = try sandbox.apply(["--json"])
        #expect(run.status == 0)
        let events = try run.stdout.split(separator: "\n").map { line -> [String: Any] in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        #expect(events.contains { $0["event"] as? String == "started" && $0["stage"] as? String == "dump:site/www" })
        #expect(events.contains { $0["event"] as? String == "finished" && $0["state"] as? String == "succeeded" })
        #expect(events.last?["event"] as? String == "summary")
    }

    @Test func checkSaysOKAfterASuccessAndCriticalWhenNeverRun() throws {
        let sandbox = try makeSandbox()
        let never = try CLI.run(["check", "--nrpe", "-c", sandbox.config, "--state-dir", sandbox.state])
        #expect(never.status == 2)
        #expect(never.stdout.hasPrefix("POLYARCHIV CRITICAL"))
        #expect(try sandbox.apply().status == 0)
        let ok = try CLI.run(["check", "--nrpe", "-c", sandbox.config, "--state-dir", sandbox.state])
        #expect(ok.status == 0, "\(ok.stdout)")
        // The collect point, the backup point, and the verification of its backup.
        #expect(ok.stdout.hasPrefix("POLYARCHIV OK - 3 point(s) OK | 'site_age'="), "\(ok.stdout)")
        #expect(ok.stdout.split(separator: "\n").count == 1)
    }

    /// `apply --nrpe`: one Nagios line, nothing else, and the plugin's exit status.
    @Test func applyNRPEPrintsOneStatusLine() throws {
        let sandbox = try makeSandbox()
        let good = try sandbox.apply(["--nrpe"])
        #expect(good.status == 0)
        #expect(good.stdout.hasPrefix("POLYARCHIV OK - all backups are valid | 'stages_failed'=0;;;0;") && good.stdout.split(separator: "\n").count == 1,
                "\(good.stdout)")
        let broken = try Sandbox.withCommand("echo broken >&2; exit 3", collectPoint: "box", source: "x")
        let bad = try broken.apply(["--nrpe"])
        #expect(bad.status == 2)
        #expect(bad.stdout.hasPrefix("POLYARCHIV CRITICAL - failed: dump:box/x") && bad.stdout.split(separator: "\n").count == 1, "\(bad.stdout)")
    }

    /// From cron, `-q` prints nothing when all went well, and the trouble when not.
    @Test func quietPrintsOnlyTrouble() throws {
        let sandbox = try makeSandbox()
        let good = try sandbox.apply(["-q"])
        #expect(good.status == 0)
        #expect(good.stdout.isEmpty, "\(good.stdout)")
        let broken = try Sandbox.withCommand("echo broken >&2; exit 3", collectPoint: "box", source: "x")
        let bad = try broken.apply(["--quiet"])
        #expect(bad.status == 2)
        #expect(bad.stdout.contains("FAILED   dump:box/x") && bad.stdout.contains("Summary of run"), "\(bad.stdout)")
        #expect(!bad.stdout.contains("started"), "\(bad.stdout)")
    }

    /// `-v` says why each stage runs (and nothing more for those that do not); `-q -v` is a contradiction.
    @Test func verboseSaysWhyEachStageRuns() throws {
        let sandbox = try makeSandbox()
        let first = try sandbox.apply(["-v"])
        #expect(first.status == 0)
        #expect(first.stdout.contains("why      collect:site: no earlier result for these inputs and parameters"), "\(first.stdout)")
        let plain = try sandbox.apply()
        #expect(!plain.stdout.contains("why "), "\(plain.stdout)")
        let again = try sandbox.apply(["-v"])
        #expect(!again.stdout.contains("why      upload:"), "a cached upload has no reason to run: \(again.stdout)")
        #expect(try sandbox.apply(["-q", "-v"]).status == 64)
    }

    /// A failed stage's stderr has newlines and pipes; Nagios reads the status to the first newline and the
    /// perfdata after the first `|`.
    @Test func theNRPEStatusIsOneLineWhateverAStagePrinted() throws {
        let sandbox = try Sandbox.withCommand("printf 'first line\\nsecond | line\\n' >&2; exit 3", collectPoint: "box", source: "x")
        #expect(try sandbox.apply().status == 2)
        let check = try CLI.run(["check", "--nrpe", "-c", sandbox.config, "--state-dir", sandbox.state])
        #expect(check.status == 2)
        let lines = check.stdout.split(separator: "\n")
        #expect(lines.count == 1, "\(check.stdout)")
        #expect(check.stdout.components(separatedBy: "|").count == 2, "one | before the perfdata: \(check.stdout)")
        #expect(check.stdout.contains("first line") && check.stdout.contains("second / line"), "\(check.stdout)")
    }

    /// Every run keeps what the next one needs and drops the rest: local disk stays bounded without gc.
    @Test func applyTrimsTheStoreSoGcFindsNothingLeft() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        let first = try Sandbox.shell("sha256sum '\(sandbox.path("backups/site.tar.zst"))' | cut -c1-64").output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let firstObject = "\(sandbox.state)/store/objects/\(first.prefix(2))/\(first.dropFirst(2))"
        #expect(FileManager.default.fileExists(atPath: firstObject))
        try sandbox.write("data/www/index.html", "<h1>changed</h1>\n")
        #expect(try sandbox.apply().status == 0)
        #expect(!FileManager.default.fileExists(atPath: firstObject), "the first run's archive left the store without gc")
        let gc = try CLI.run(["gc", "--state-dir", sandbox.state])
        #expect(gc.status == 0)
        #expect(gc.stdout.hasPrefix("removed 0 object(s)"), "\(gc.stdout)")
        // What the newest run made is still there: an unchanged run is all cache hits downstream.
        let after = try sandbox.apply()
        #expect(after.stdout.contains("cached   upload:local/site"), "\(after.stdout)")
    }
}

/// Selections, waiting for the lock, the log file, and what plan predicts.
@Suite(.serialized) struct ApplyOptionTests {
    func makeSandbox() throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.write("data/www/index.html", "<h1>hello</h1>\n")
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect/{name}
                tags: [web]
                sources: {www: {engine: files, path: $ROOT/data/www}}
              other:
                engine: files
                path: $ROOT/collect/{name}
                sources: {out: {engine: command, command: "echo other"}}
            backup_points:
              local:
                engine: archive
                frequency: daily
                url: "file://$ROOT/backups/{name}.tar.gz"
            """)
        return sandbox
    }

    @Test func skipCollectShipsWhatTheCollectPointHolds() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        try sandbox.write("data/www/index.html", "<h1>changed</h1>\n")
        let run = try sandbox.apply(["--skip-collect", "--force"])
        #expect(run.status == 0, "\(run.stdout)")
        #expect(run.stdout.contains("skipped  dump:site/www  (--skip-collect)"))
        #expect(run.stdout.contains("cached   upload:local/site"), "the collect point still holds the old tree:\n\(run.stdout)")
        let listing = try Sandbox.shell("tar -xzOf '\(sandbox.path("backups/site.tar.gz"))' www/index.html")
        #expect(listing.output == "<h1>hello</h1>\n")
    }

    @Test func onlyCollectPointsMatchesNamesAndTags() throws {
        let sandbox = try makeSandbox()
        let byTag = try sandbox.apply(["--only-collect-points", "w?b"])
        #expect(byTag.status == 0)
        #expect(byTag.stdout.contains("done     upload:local/site"))
        #expect(byTag.stdout.contains("skipped  dump:other/out  (not selected by --only-collect-points)"))
        #expect(byTag.stdout.contains("skipped  upload:local/other"))
        let byName = try sandbox.apply(["--only-collect-points", "oth*", "--skip-backup"])
        #expect(byName.stdout.contains("done     dump:other/out"))
        #expect(byName.stdout.contains("skipped  upload:local/other  (--skip-backup)"))
    }

    @Test func aSelectionOrANameThatMatchesNothingIsAnError() throws {
        let sandbox = try makeSandbox()
        for command in [["apply", "--only-collect-points", "nosuch*"], ["plan", "--only-backup-points", "typo"]] {
            let run = try CLI.run(command + ["-c", sandbox.config, "--state-dir", sandbox.state])
            #expect(run.status == 1, "\(command): \(run.stdout)")
            #expect(run.stderr.contains("matches no point's name or tag (names: "), "\(run.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("backups")), "nothing ran")
        let restore = try CLI.run(["restore", "-c", sandbox.config, "--from", "nosuch", "--target", sandbox.path("r")])
        #expect(restore.status == 1)
        #expect(restore.stderr.contains("there is no backup point `nosuch`; backup points: local"), "\(restore.stderr)")
    }

    @Test func planPredictsCacheHitsForWhatASkippedCollectPointHolds() throws {
        let sandbox = try makeSandbox()
        #expect(try sandbox.apply().status == 0)
        let plan = try CLI.run(["plan", "-c", sandbox.config, "--state-dir", sandbox.state])
        // The backup point is daily and ran: skipped. With --skip-collect and --force, the archive is known.
        #expect(plan.stdout.contains("skip     upload:local/site"), "\(plan.stdout)")
        let forced = try CLI.run(["apply", "--dry-run", "--force", "--skip-collect", "-c", sandbox.config,
                                               "--state-dir", sandbox.state])
        #expect(forced.stdout.contains("cached   archive:site/tar.gz"), "\(forced.stdout)")
        #expect(forced.stdout.contains("cached   upload:local/site"), "\(forced.stdout)")
        // plan takes the same options, and prints the same.
        let planned = try CLI.run(["plan", "--force", "--skip-collect", "-c", sandbox.config, "--state-dir", sandbox.state])
        #expect(planned.status == 0, "\(planned.stderr)")
        // (but for the time in the first line, which moves on between the two)
        #expect(planned.stdout.split(separator: "\n").dropFirst() == forced.stdout.split(separator: "\n").dropFirst())
        let json = try CLI.run(["apply", "--dry-run", "--json", "--only-collect-points", "site", "-c", sandbox.config, "--state-dir", sandbox.state])
        let planJSON = try CLI.run(["plan", "--format", "json", "--only-collect-points", "site", "-c", sandbox.config, "--state-dir", sandbox.state])
        #expect(json.status == 0 && planJSON.status == 0)
        func stages(_ text: String) -> String? {
            ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any])?["stages"]
                .flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }.map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(stages(json.stdout) != nil, "apply --dry-run --json prints the JSON plan: \(json.stdout)")
        #expect(stages(json.stdout) == stages(planJSON.stdout))
    }

    @Test func lockTimeoutWaitsForTheHolder() throws {
        let sandbox = try Sandbox.withCommand("sleep 2", collectPoint: "slow", source: "x")
        let holder = try sandbox.startLockHolder()
        let waiting = try sandbox.apply(["--lock-timeout", "30", "--force"])
        holder.waitUntilExit()
        #expect(waiting.status == 0, "\(waiting.stderr)")
    }

    @Test func logFileGetsTimestampedLines() throws {
        let sandbox = try makeSandbox()
        let log = sandbox.path("run.log")
        #expect(try sandbox.apply(["--log-file", log]).status == 0)
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(text.contains("done     upload:local/site"))
        // Every line, the summary's too, has the time and the run's id.
        let lines = text.split(separator: "\n")
        #expect(lines.contains { $0.contains("Summary of run 1") })
        for line in lines {
            #expect(line.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d) run 1 "#, options: .regularExpression) != nil, "\(line)")
        }
        // With --json, the log gets the same JSON events, the summary included, each with the run's id.
        let jsonLog = sandbox.path("run.jsonl")
        #expect(try sandbox.apply(["--log-file", jsonLog, "--json", "--force"]).status == 0)
        let events = try String(contentsOfFile: jsonLog, encoding: .utf8).split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
        #expect(events.last?["event"] as? String == "summary")
        #expect(events.allSatisfy { ($0["run"] as? Int) == 2 && $0["time"] is String }, "\(events)")
    }
}
