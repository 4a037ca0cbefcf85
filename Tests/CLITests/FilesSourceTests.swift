import Foundation
import Testing
import TestSupport

/// The files source with what real trees hold: hard links, owners, modes, empty directories, symlinks,
/// special files; through a files collect point and an archive, restored and compared.
@Suite(.serialized) struct FilesSourceTests {
    @Test func linksOwnersModesAndEmptyDirectoriesSurviveARoundTrip() throws {
        let sandbox = try Sandbox()
        let data = sandbox.path("data")
        try sandbox.write("data/a/original.txt", "shared bytes\n")
        try sandbox.write("data/z/private.key", "key\n")
        chmod(sandbox.path("data/z/private.key"), 0o600)
        #expect(link(sandbox.path("data/a/original.txt"), sandbox.path("data/z/hardlink.txt")) == 0)
        #expect(link(sandbox.path("data/a/original.txt"), sandbox.path("data/0-first-by-name.txt")) == 0)
        symlink("a/original.txt", sandbox.path("data/relative-link"))
        try FileManager.default.createDirectory(atPath: sandbox.path("data/empty/deeper"), withIntermediateDirectories: true)
        mkfifo(sandbox.path("data/a/pipe"), 0o600)
        let root = geteuid() == 0
        if root {
            // A file owned by someone else keeps its owner.
            try sandbox.write("data/www/page.html", "<p>www</p>\n")
            try Sandbox.shell("chown -R nobody:nogroup '\(sandbox.path("data/www"))'")
        }
        try sandbox.configure("""
            collect_points:
              site: {engine: files, path: $ROOT/collect, sources: {tree: {engine: files, path: $ROOT/data}}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        #expect(run.stdout.contains("a/pipe is a special file (socket, fifo or device); skipped"), "\(run.stdout)")
        let collected = sandbox.path("collect/tree")
        func inode(_ path: String) throws -> String { try Sandbox.shell("stat -c %i '\(path)'").output }
        // Hard links stay links, in the collect point and in the archive.
        #expect(try inode(collected + "/a/original.txt") == inode(collected + "/z/hardlink.txt"))
        #expect(try inode(collected + "/a/original.txt") == inode(collected + "/0-first-by-name.txt"))
        let listing = try Sandbox.shell("tar -tvzf '\(sandbox.path("backups/site.tar.gz"))'").output
        #expect(listing.contains("link to"), "\(listing)")
        if root {
            #expect(try Sandbox.shell("stat -c %U:%G '\(collected)/www/page.html'").output == "nobody:nogroup\n")
            #expect(listing.contains("nobody/nogroup"), "\(listing)")
        }
        // Restored on a fresh machine: the same tree, modes and links included.
        try FileManager.default.removeItem(atPath: sandbox.state)
        let restored = try CLI.run(["restore", "-c", sandbox.config, "--target", sandbox.path("restored")])
        #expect(restored.status == 0, "\(restored.stderr)")
        let out = sandbox.path("restored/site/tree")
        #expect(try Sandbox.shell("diff -r --no-dereference '\(data)' '\(out)' 2>&1 | grep -v 'pipe'").output.isEmpty)
        #expect(try inode(out + "/a/original.txt") == inode(out + "/z/hardlink.txt"))
        #expect(try Sandbox.shell("stat -c %a '\(out)/z/private.key'").output == "600\n")
        #expect(try Sandbox.shell("readlink '\(out)/relative-link'").output == "a/original.txt\n")
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: out + "/empty/deeper", isDirectory: &isDirectory) && isDirectory.boolValue)
        if root { #expect(try Sandbox.shell("stat -c %U:%G '\(out)/www/page.html'").output == "nobody:nogroup\n") }
        // A second run with nothing changed stores nothing new.
        #expect(try sandbox.apply().status == 0)
    }

    /// `exclude_caches` leaves out what a directory with a real CACHEDIR.TAG holds (the directory and its tag
    /// stay, as tar's --exclude-caches does); `exclude_if_present` leaves out a directory holding a marker. A
    /// restore gives back exactly the rest.
    @Test func cacheDirectoriesAndMarkedDirectoriesAreLeftOut() throws {
        let sandbox = try Sandbox()
        try sandbox.write("data/keep.txt", "keep\n")
        try sandbox.write("data/build/cache/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n# made by a build tool\n")
        try sandbox.write("data/build/cache/blob", "can be made again\n")
        try sandbox.write("data/build/cache/deeper/more", "also\n")
        try sandbox.write("data/notacache/CACHEDIR.TAG", "Signature: not the one\n")
        try sandbox.write("data/notacache/kept", "kept\n")
        try sandbox.write("data/private/.nobackup", "")
        try sandbox.write("data/private/secret", "secret\n")
        try sandbox.configure("""
            collect_points:
              site:
                engine: files
                path: $ROOT/collect
                sources: {www: {engine: files, path: $ROOT/data, exclude_caches: true, exclude_if_present: [.nobackup]}}
            backup_points:
              local: {engine: archive, url: "file://$ROOT/backups/{name}.tar.gz"}
            """)
        let run = try sandbox.apply()
        #expect(run.status == 0, "\(run.stdout)")
        let restored = sandbox.path("restored")
        #expect(try CLI.run(["restore", "-c", sandbox.config, "--target", restored]).status == 0)
        let files = try Sandbox.shell("cd '\(restored)/site/www' && find . -mindepth 1 | sort").output
        #expect(files == "./build\n./build/cache\n./build/cache/CACHEDIR.TAG\n./keep.txt\n./notacache\n./notacache/CACHEDIR.TAG\n./notacache/kept\n",
                "\(files)")
        try sandbox.configure("collect_points: {site: {engine: files, path: $ROOT/collect, "
                              + "sources: {www: {engine: files, path: $ROOT/data, exclude_if_present: [a/b]}}}}\n")
        let bad = try CLI.run(["validate", "-c", sandbox.config])
        #expect(bad.status == 1 && bad.stderr.contains("exclude_if_present: `a/b` is not a file name"), "\(bad.stderr)")
    }
}

/// The sqlite source copies a database that another process writes to: the copy is one consistent state.
@Suite(.serialized) struct SQLiteLiveTests {
    @Test func aDatabaseBeingWrittenIsCopiedConsistently() throws {
        let sandbox = try Sandbox()
        let database = sandbox.path("live.sqlite3")
        try Sandbox.shell("sqlite3 '\(database)' 'PRAGMA journal_mode=WAL; CREATE TABLE pairs(n INTEGER, side TEXT);'")
        // Rows go in pairs, one transaction each: a consistent copy holds an even number of rows.
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        writer.arguments = ["python3", "-c", """
            import sqlite3, sys, time
            db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
            end = time.time() + 4
            n = 0
            while time.time() < end:
                db.execute('BEGIN IMMEDIATE')
                db.execute('INSERT INTO pairs VALUES (?, ?)', (n, 'left'))
                db.execute('INSERT INTO pairs VALUES (?, ?)', (n, 'right'))
                db.execute('COMMIT')
                n += 1
            """, database]
        try writer.run()
        defer { writer.waitUntilExit() }
        usleep(500_000)
        try sandbox.configure("""
            collect_points:
              db: {engine: files, path: $ROOT/collect, sources: {live: {engine: sqlite, path: \(database)}}}
            """)
        for _ in 0..<3 {
            let run = try sandbox.apply(["--force"])
            #expect(run.status == 0, "\(run.stdout)")
            let copy = sandbox.path("collect/live.sqlite3")
            #expect(try Sandbox.shell("sqlite3 '\(copy)' 'PRAGMA integrity_check'").output == "ok\n")
            let rows = Int(try Sandbox.shell("sqlite3 '\(copy)' 'SELECT count(*) FROM pairs'").output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            #expect(rows > 0 && rows % 2 == 0, "\(rows) rows: a transaction was cut in half")
            usleep(300_000)
        }
    }
}

/// A source that takes longer than its `timeout` is killed, with its stderr in the one-line error.
@Suite struct SourceTimeoutTests {
    @Test func aSlowSourceIsKilledAtItsTimeout() throws {
        let sandbox = try Sandbox()
        try sandbox.configure("""
            collect_points:
              box:
                engine: files
                path: $ROOT/collect
                sources:
                  slow: {engine: command, command: "echo starting >&2; sleep 30", timeout: 1s}
                  quick: {engine: command, command: "echo fine"}
            """)
        let started = Date()
        let run = try sandbox.apply()
        #expect(run.status == 2)
        #expect(Date().timeIntervalSince(started) < 20, "killed, not waited for")
        #expect(run.stdout.contains("did not finish within 1s and was killed"), "\(run.stdout)")
        #expect(run.stdout.contains("starting"), "its stderr is shown")
        #expect(run.stdout.contains("succeeded    dump:box/quick"))
    }
}
