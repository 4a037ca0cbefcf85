import Foundation
import Testing
import TestSupport

/// The walk of a `files` source, as whoever can write into the source would try to steer it, and as a
/// night on a real server goes: files that cannot be read, directories far deeper than a thread's stack.
@Suite(.serialized) struct TreeWalkTests {
    /// The attacker writes `started` once it runs (a python it cannot execute would make the test pass for nothing).
    func attackerStarted(_ sandbox: Sandbox) -> Bool {
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: sandbox.path("data/.started")) { usleep(50_000) }
        return FileManager.default.fileExists(atPath: sandbox.path("data/.started"))
    }

    func makeSandbox() throws -> Sandbox {
        let sandbox = try Sandbox()
        try sandbox.write("data/readable.txt", "everyone may read this\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        return sandbox
    }

    /// As nobody, a root-only file and a root-only directory in the source cannot be read: each is named in
    /// one warning, counted, and left out; everything else is backed up, and apply exits 3.
    @Test func whatCannotBeReadIsLeftOutNamedAndCountedAndTheRestIsBackedUp() throws {
        guard runsAsRoot("running apply as nobody") else { return }
        let sandbox = try makeSandbox()
        try sandbox.write("data/private.key", "root only\n")
        try sandbox.write("data/vault/inside.txt", "root only too\n")
        try sandbox.write("data/open/later.txt", "after the unreadable ones\n")
        #expect(try Sandbox.shell("""
            chown -R nobody:nogroup '\(sandbox.root.path)' && chmod 755 '\(sandbox.root.path)' \
            && chown root:root '\(sandbox.path("data/private.key"))' '\(sandbox.path("data/vault"))' \
            && chmod 600 '\(sandbox.path("data/private.key"))' && chmod 700 '\(sandbox.path("data/vault"))'
            """).status == 0)
        let metrics = sandbox.path("metrics.prom")
        let run = try Sandbox.shell("""
            setpriv --reuid=nobody --regid=nogroup --clear-groups '\(CLI.binary.path)' apply -c '\(sandbox.config)' \
            --state-dir '\(sandbox.state)' --metrics-file '\(metrics)'; echo "exit=$?"
            """)
        #expect(run.output.contains("exit=3"), "\(run.output)")
        #expect(run.output.contains("data/private.key: Permission denied; skipped"), "\(run.output)")
        #expect(run.output.contains("data/vault: Permission denied; skipped"), "\(run.output)")
        #expect(run.output.contains("2 entries could not be read and were left out of the backups"), "\(run.output)")
        #expect((try? String(contentsOfFile: metrics, encoding: .utf8))?.contains("polyarchiv_run_entries_left_out 2") == true)
        #expect((try? String(contentsOfFile: sandbox.path("collect/www/readable.txt"), encoding: .utf8)) == "everyone may read this\n")
        #expect((try? String(contentsOfFile: sandbox.path("collect/www/open/later.txt"), encoding: .utf8)) == "after the unreadable ones\n")
        #expect(!FileManager.default.fileExists(atPath: sandbox.path("collect/www/private.key")))
        let listing = try Sandbox.shell("tar -tzf '\(sandbox.path("backups/site.tar.gz"))'")
        #expect(listing.status == 0 && listing.output.contains("www/open/later.txt"), "\(listing.output)")
        #expect(!listing.output.contains("private.key"), "\(listing.output)")
    }

    /// `unreadable: fail`: the same night fails the source, naming the file, instead of leaving it out.
    @Test func unreadableFailMakesAnUnreadableFileFailTheSource() throws {
        guard runsAsRoot("running apply as nobody") else { return }
        let sandbox = try makeSandbox()
        try sandbox.write("data/private.key", "root only\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data, unreadable: fail}}}
            """)
        #expect(try Sandbox.shell("""
            chown -R nobody:nogroup '\(sandbox.root.path)' && chmod 755 '\(sandbox.root.path)' \
            && chown root:root '\(sandbox.path("data/private.key"))' && chmod 600 '\(sandbox.path("data/private.key"))'
            """).status == 0)
        let run = try Sandbox.shell("""
            setpriv --reuid=nobody --regid=nogroup --clear-groups '\(CLI.binary.path)' apply -c '\(sandbox.config)' \
            --state-dir '\(sandbox.state)'; echo "exit=$?"
            """)
        #expect(run.output.contains("exit=2"), "\(run.output)")
        #expect(run.output.contains("data/private.key: Permission denied — and `unreadable: fail` makes that fail the source"), "\(run.output)")
    }

    /// A file deleted between the listing of its directory and its reading (the moment the walk opens the
    /// directory's first file, through inotify, the last one goes) is left out with a warning; the run is made
    /// and exits 3.
    @Test func aFileThatVanishesDuringTheWalkIsLeftOut() throws {
        let sandbox = try makeSandbox()
        #expect(try Sandbox.shell("""
            cd '\(sandbox.path("data"))' && mkdir many && for i in $(seq 3000); do echo $i > many/f$i.txt; done && echo bye > many/zz-last.txt
            """).status == 0)
        let many = sandbox.path("data/many")
        #expect(try Sandbox.shell("""
            /usr/bin/python3 -c "import os,ctypes,select
            os.closerange(3, 4096)
            libc=ctypes.CDLL('libc.so.6')
            watch=libc.inotify_init()
            libc.inotify_add_watch(watch, b'\(many)/f1.txt', 0x20)
            open('\(sandbox.path("data/.started"))', 'w').close()
            if select.select([watch], [], [], 60)[0]: os.unlink('\(many)/zz-last.txt')
            " >/dev/null 2>&1 &
            """).status == 0)
        #expect(attackerStarted(sandbox), "the deleter runs")
        let run = try sandbox.apply()
        #expect(run.status == 3, "\(run.stdout)")
        #expect(run.stdout.contains("many/zz-last.txt: it vanished while being read; skipped"), "\(run.stdout)")
        #expect(FileManager.default.fileExists(atPath: sandbox.path("collect/www/many/f3000.txt")))
    }

    /// A source whose owner swaps a directory for a link to a root-only one the moment root opens it (inotify),
    /// on every run: root never reads through the link, so the secret is in neither the collect point, the
    /// store nor the archive.
    @Test func aDirectorySwappedForALinkNeverMakesRootReadThroughIt() throws {
        guard runsAsRoot("an attacker as nobody") else { return }
        let sandbox = try makeSandbox()
        try sandbox.write("secret/notes.txt", "ROOT-ONLY-SECRET\n")
        chmod(sandbox.path("secret"), 0o700)
        chmod(sandbox.path("secret/notes.txt"), 0o600)
        try sandbox.write("data/d/notes.txt", "harmless\n")
        try sandbox.write("data/spare/notes.txt", "harmless\n")
        #expect(try Sandbox.shell("chmod 755 '\(sandbox.root.path)' && chown -R nobody:nogroup '\(sandbox.path("data"))'").status == 0)
        let data = sandbox.path("data")
        #expect(try Sandbox.shell("""
            setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 -c "import os,time,ctypes,select
            os.closerange(3, 4096)
            libc=ctypes.CDLL('libc.so.6')
            d='\(data)'; end=time.time()+90
            os.symlink('\(sandbox.path("secret"))', d+'/link')
            open(d+'/.started', 'w').close()
            while time.time()<end and not os.path.exists(d+'/../stop'):
                watch=libc.inotify_init()
                libc.inotify_add_watch(watch, (d+'/d').encode(), 0x20)
                if select.select([watch], [], [], 1)[0]:
                    os.rename(d+'/d', d+'/real'); os.rename(d+'/link', d+'/d')
                    time.sleep(0.3)
                    os.rename(d+'/d', d+'/link'); os.rename(d+'/real', d+'/d')
                os.close(watch)
            " >/dev/null 2>&1 &
            """).status == 0)
        defer { _ = FileManager.default.createFile(atPath: sandbox.path("stop"), contents: nil) }
        #expect(attackerStarted(sandbox), "the attacker runs")
        for _ in 0..<8 {
            _ = try sandbox.apply()
            let found = try Sandbox.shell("grep -rl ROOT-ONLY-SECRET '\(sandbox.path("collect"))' '\(sandbox.path("state"))' 2>/dev/null; "
                                          + "for f in '\(sandbox.path("backups"))'/*; do zcat \"$f\" 2>/dev/null | grep -l ROOT-ONLY-SECRET; done")
            #expect(!found.output.contains("SECRET") && found.output.isEmpty, "the secret was copied: \(found.output)")
            if !found.output.isEmpty { break }
        }
    }

    /// A file swapped for a FIFO while it is backed up (over and over) never holds the run: every apply
    /// ends, and the lock is free for the next.
    @Test func aFileSwappedForAFIFONeverHangsTheRun() throws {
        guard runsAsRoot("an attacker as nobody") else { return }
        let sandbox = try makeSandbox()
        try sandbox.write("data/log.txt", String(repeating: "line\n", count: 1000))
        #expect(try Sandbox.shell("chmod 755 '\(sandbox.root.path)' && chown -R nobody:nogroup '\(sandbox.path("data"))'").status == 0)
        let data = sandbox.path("data")
        #expect(try Sandbox.shell("""
            setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 -c "import os,time
            os.closerange(3, 4096)
            open('\(sandbox.path("data/.started"))', 'w').close()
            d='\(data)'; end=time.time()+90
            os.mkfifo(d+'/pipe')
            while time.time()<end and not os.path.exists(d+'/../stop'):
                try:
                    os.rename(d+'/log.txt', d+'/real'); os.rename(d+'/pipe', d+'/log.txt')
                    os.rename(d+'/log.txt', d+'/pipe'); os.rename(d+'/real', d+'/log.txt')
                except OSError: pass
            " >/dev/null 2>&1 &
            """).status == 0)
        defer { _ = FileManager.default.createFile(atPath: sandbox.path("stop"), contents: nil) }
        #expect(attackerStarted(sandbox), "the attacker runs")
        for _ in 0..<8 {
            let run = try Sandbox.shell("timeout -s KILL 60 '\(CLI.binary.path)' apply -c '\(sandbox.config)' --state-dir '\(sandbox.state)' "
                                        + ">/dev/null 2>&1; echo \"exit=$?\"")
            #expect(!run.output.contains("exit=137"), "apply hung on a FIFO and was killed")
            if run.output.contains("exit=137") { break }
        }
    }

    /// A chain of directories far deeper than a thread's stack would allow recursing: backed up through a
    /// collect point and an archive, listed, and restored whole.
    @Test func aTwoThousandDeepChainIsBackedUpAndRestored() throws {
        let sandbox = try makeSandbox()
        let depth = 2000
        #expect(try Sandbox.shell("""
            cd '\(sandbox.path("data"))' && python3 -c "import os
            for i in range(\(depth)): os.mkdir('d'); os.chdir('d')
            open('bottom.txt', 'w').write('at the bottom\\n')"
            """).status == 0)
        let applied = try sandbox.apply()
        #expect(applied.status == 0, "\(applied.stdout)\(applied.stderr)")
        let bottom = Array(repeating: "d", count: depth).joined(separator: "/") + "/bottom.txt"
        try sandbox.write("data/new.txt", "a second run walks the collect point too\n")
        let again = try sandbox.apply()
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        let listed = try sandbox.run("ls", ["--from", "local"])
        #expect(listed.status == 0 && listed.stdout.contains("bottom.txt"), "\(listed.stderr)")
        let restored = try sandbox.run("restore", ["--from", "local", "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stdout)\(restored.stderr)")
        let copy = try Sandbox.shell("cd '\(sandbox.path("restored"))/site/www' && cat '\(bottom)'")
        #expect(copy.output == "at the bottom\n", "\(copy.output)")
    }
}

/// What the file system holds comes back from a backup as it was.
@Suite(.serialized) struct TreeFidelityTests {
    /// Times to the nanosecond and a shared group folder (setgid directory) survive an archive round trip;
    /// a setuid file still loses its bit unless asked.
    @Test func nanosecondTimesAndSetgidDirectoriesComeBack() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/shared/report.txt", "quarterly\n")
        try sandbox.write("data/tool", "#!/bin/sh\n")
        #expect(try Sandbox.shell("""
            cd '\(sandbox.path("data"))' && touch -d '2001-01-01 01:02:03.123456789' shared/report.txt \
            && chmod 2775 shared && chmod 4755 tool && touch -d '2002-02-02 02:02:02.987654321' shared
            """).status == 0)
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        #expect(try sandbox.apply().status == 0)
        let restored = try sandbox.run("restore", ["--from", "local", "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stdout)\(restored.stderr)")
        let stat = try Sandbox.shell("cd '\(sandbox.path("restored"))/site/www' && stat -c '%n %a %.9Y' shared shared/report.txt tool")
        #expect(stat.output == "shared 2775 1012615322.987654321\nshared/report.txt 644 978310923.123456789\ntool 755 \(try modified("tool", sandbox))\n",
                "\(stat.output)")
    }

    func modified(_ name: String, _ sandbox: Sandbox) throws -> String {
        try Sandbox.shell("stat -c %.9Y '\(sandbox.path("data/" + name))'").output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A log appended to all through the run (a busy server's) is backed up as it was when the walk read it,
    /// every night, instead of failing the collect point.
    @Test func aLogAppendedToDuringTheRunIsBackedUpAsItWasRead() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/busy.log", String(repeating: "an early line of the log\n", count: 20_000))
        try sandbox.write("data/other.txt", "still here\n")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            """)
        #expect(try Sandbox.shell("""
            /usr/bin/python3 -c "import os,time
            os.closerange(3, 4096)
            end=time.time()+60
            with open('\(sandbox.path("data/busy.log"))', 'a') as log:
                while time.time()<end and not os.path.exists('\(sandbox.path("stop"))'):
                    log.write('a line written while the backup runs\\n'); log.flush()
            " >/dev/null 2>&1 &
            """).status == 0)
        defer { _ = FileManager.default.createFile(atPath: sandbox.path("stop"), contents: nil) }
        for _ in 0..<4 {
            let run = try sandbox.apply()
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            // The copy is the log as it was at one moment: its first bytes, byte for byte.
            let copy = sandbox.path("collect/www/busy.log")
            let prefix = try Sandbox.shell("cmp -n $(stat -c %s '\(copy)') '\(copy)' '\(sandbox.path("data/busy.log"))' && echo same")
            #expect(prefix.output == "same\n", "\(prefix.output)")
        }
    }
}

extension TreeFidelityTests {
    /// A files collect point of `data`, an archive (`local`), an rsync mirror (`mirror`) and, when asked, a
    /// restic repository (`vault`), all on this machine.
    func configureLocalPoints(_ sandbox: Sandbox, restic: Bool = false) throws {
        try sandbox.write("restic-password", "correct horse battery staple")
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {www: {engine: files, path: $ROOT/data}}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
              mirror: {engine: synchronize, url: "file://$ROOT/mirror"}
            """ + (restic ? "\n  vault: {engine: restic, repository: $ROOT/repo, password_file: $ROOT/restic-password}" : ""))
    }

    /// A 256 MiB sparse file with 4 KiB of data stays sparse in the collect point, in an rsync mirror and
    /// when restored from an archive and from the mirror.
    @Test func aSparseFileStaysSparse() throws {
        let sandbox = try Sandbox()
        try FileManager.default.createDirectory(atPath: sandbox.path("data"), withIntermediateDirectories: true)
        #expect(try Sandbox.shell("""
            cd '\(sandbox.path("data"))' && truncate -s 256M disk.img && printf 'DATA%.0s' $(seq 1024) | dd of=disk.img bs=4096 seek=25600 conv=notrunc status=none
            """).status == 0)
        try configureLocalPoints(sandbox)
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        func kibibytes(_ path: String) throws -> Int {
            Int(try Sandbox.shell("du -k '\(path)' | cut -f1").output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
        #expect(try kibibytes(sandbox.path("collect/www/disk.img")) < 1024, "the collect point's copy is sparse")
        #expect(try kibibytes(sandbox.path("mirror/www/disk.img")) < 1024, "the mirror's copy is sparse")
        for point in ["local", "mirror"] {
            let restored = try sandbox.run("restore", ["--from", point, "--target", sandbox.path("restored-" + point)])
            #expect(restored.status == 0, "\(restored.stdout)\(restored.stderr)")
            let copy = sandbox.path("restored-\(point)/site/www/disk.img")
            #expect(try Sandbox.shell("cmp '\(copy)' '\(sandbox.path("data/disk.img"))'").status == 0)
            #expect(try kibibytes(copy) < 1024, "restored from \(point), it is sparse")
        }
    }
}

extension TreeFidelityTests {
    /// A `user.*` attribute, a POSIX ACL, a default ACL on a directory and a file capability come back from
    /// an archive (GNU tar reads them too), an rsync mirror and restic.
    @Test func extendedAttributesACLsAndCapabilitiesComeBack() throws {
        guard try Sandbox.shell("command -v setfattr && command -v setfacl && command -v setcap").status == 0 else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("setfattr, setfacl or setcap is missing: apt-get install attr acl libcap2-bin") }
            print("skipped: setfattr, setfacl or setcap is missing")
            return
        }
        guard runsAsRoot("setting a capability") else { return }
        let sandbox = try Sandbox()
        try sandbox.write("data/notes.txt", "with attributes\n")
        try FileManager.default.createDirectory(atPath: sandbox.path("data/shared"), withIntermediateDirectories: true)
        #expect(try Sandbox.shell("""
            cd '\(sandbox.path("data"))' && setfattr -n user.comment -v 'kept as it was' notes.txt && setfacl -m u:nobody:rw notes.txt \
            && setfacl -d -m g:nogroup:rx shared && cp /bin/true ping && setcap cap_net_raw+ep ping
            """).status == 0)
        try configureLocalPoints(sandbox, restic: true)
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        func metadata(_ root: String) throws -> String {
            try Sandbox.shell("""
                cd '\(root)' && getfattr --absolute-names -n user.comment --only-values notes.txt; echo; \
                getfacl -cp notes.txt | grep nobody; getfacl -cp shared | grep nogroup; getcap ping | cut -d' ' -f2
                """).output
        }
        let expected = "kept as it was\nuser:nobody:rw-\ndefault:group:nogroup:r-x\ncap_net_raw=ep\n"
        #expect(try metadata(sandbox.path("data")) == expected)
        #expect(try metadata(sandbox.path("collect/www")) == expected, "the collect point")
        for point in ["local", "mirror", "vault"] {
            let restored = try sandbox.run("restore", ["--from", point, "--target", sandbox.path("restored-" + point)])
            #expect(restored.status == 0, "\(restored.stdout)\(restored.stderr)")
            #expect(try metadata(sandbox.path("restored-\(point)/site/www")) == expected, "restored from \(point)")
        }
        try FileManager.default.createDirectory(atPath: sandbox.path("gnu"), withIntermediateDirectories: true)
        #expect(try Sandbox.shell("tar --xattrs --xattrs-include='*' -xzf '\(sandbox.path("backups/site.tar.gz"))' -C '\(sandbox.path("gnu"))'").status == 0)
        #expect(try metadata(sandbox.path("gnu/www")) == expected, "GNU tar reads them from the archive")
    }
}
