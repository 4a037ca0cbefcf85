import Foundation
import Testing
import TestSupport

/// Damaged store objects under every archive format: whatever was flipped, truncated or removed, `apply`
/// reports it, makes it again and writes a correct archive; it never crashes.
@Suite struct StoreFuzzTests {
    enum Damage: String, CaseIterable, CustomTestStringConvertible {
        case flip, truncate, remove
        var testDescription: String { rawValue }
    }

    static let formats = ["tar.gz", "tar.bz2", "tar.xz", "tar.zst", "tar"]
    /// Each format followed by the next one (zst→gz, xz→gz and gz→bz2 crashed once).
    static let changes = zip(formats, formats.dropFirst() + formats.prefix(1)).map { [$0.0, $0.1] } + [["tar.xz", "tar.gz"]]

    /// The files an archive reads its entries from, mid-stream: the collect point's (the store keeps no copy
    /// of them), damaged with their mtime kept so that only a digest can tell; with `everything`, every
    /// store object too.
    static func damage(_ sandbox: Sandbox, _ damage: Damage, everything: Bool) throws {
        let collected = try Sandbox.shell("find '\(sandbox.path("collect"))' -type f ! -name '.polyarchiv-*'").output
            .split(separator: "\n").map(String.init)
        let stored = everything ? try Sandbox.shell("find '\(sandbox.state)/store' -type f ! -path '*/store/tmp/*'").output
            .split(separator: "\n").map(String.init) : []
        #expect(!collected.isEmpty)
        for path in collected + stored {
            try Sandbox.shell("cp -p '\(path)' '\(path).times'")
            switch damage {
            case .flip:
                // The middle byte XOR 0xff: same size, different content.
                try Sandbox.shell("python3 -c \"import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); "
                                  + "b and b.__setitem__(len(b)//2, b[len(b)//2]^255); open(p,'r+b').write(b)\" '\(path)'")
            case .truncate: try Sandbox.shell("truncate -s 1 '\(path)'")
            case .remove: unlink(path)
            }
            try Sandbox.shell("[ -e '\(path)' ] && touch -r '\(path).times' '\(path)'; rm -f '\(path).times'")
        }
    }

    @Test(arguments: Damage.allCases, changes)
    func aDamagedFileObjectNeverCrashesAndTheArchiveIsRight(_ damage: Damage, formats: [String]) throws {
        try check(damage, formats: formats, everything: false)
    }

    @Test(arguments: Damage.allCases, changes)
    func aDamagedStoreNeverCrashesAndTheArchiveIsRight(_ damage: Damage, formats: [String]) throws {
        try check(damage, formats: formats, everything: true)
    }

    func check(_ damage: Damage, formats: [String], everything: Bool) throws {
        let sandbox = try Sandbox()
        for index in 0..<12 {
            // Directory names of 2 to 15 characters crashed libarchive's gzip and bzip2 writers once.
            try sandbox.write("data/d\(index)/file-\(index).txt", String(repeating: "line \(index)\n", count: 200 * (index + 1)))
        }
        func configure(_ format: String) throws {
            try sandbox.configure("""
                collect_points:
                  cp:
                    engine: files
                    path: $ROOT/collect
                    sources: {tree: {engine: files, path: $ROOT/data}}
                backup_points:
                  out:
                    engine: archive
                    url: "file://$ROOT/backups/{name}.\(format)"
                """)
        }
        try configure(formats[0])
        let first = try sandbox.apply()
        #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")
        try Self.damage(sandbox, damage, everything: everything)
        // Another format makes the archive stage read every object again.
        try configure(formats[1])
        let second = try sandbox.apply()
        #expect(second.status == 0, "exit \(second.status) after \(damage) (\(formats[0]) → \(formats[1])):\n\(second.stdout)\n\(second.stderr)")
        let restored = sandbox.path("restored")
        try FileManager.default.createDirectory(atPath: restored, withIntermediateDirectories: true)
        let extract = try Sandbox.shell("tar -C '\(restored)' -xf '\(sandbox.path("backups/cp.\(formats[1])"))'")
        #expect(extract.status == 0, "\(extract.output)")
        let diff = try Sandbox.shell("diff -r '\(sandbox.path("data"))' '\(restored)/tree'")
        #expect(diff.status == 0, "\(diff.output)")
        let collected = try Sandbox.shell("diff -r '\(sandbox.path("data"))' '\(sandbox.path("collect/tree"))'")
        #expect(collected.status == 0, "the collect point is whole again:\n\(collected.output)")
    }

    /// The archive a new one copies its unchanged frames from, damaged in the store: the new archive is right.
    @Test(arguments: ["tar.zst", "tar.gz", "tar"])
    func aDamagedEarlierArchiveIsNeverCopiedFrom(_ format: String) throws {
        let sandbox = try Sandbox()
        for index in 0..<40 {
            try sandbox.write("data/d\(index % 4)/file-\(index).txt", String(repeating: "line \(index)\n", count: 3000 * (index + 1)))
        }
        try sandbox.configure("""
            collect_points:
              cp:
                engine: files
                path: $ROOT/collect
                sources: {tree: {engine: files, path: $ROOT/data}}
            backup_points:
              out:
                engine: archive
                url: "file://$ROOT/backups/{name}.\(format)"
            """)
        #expect(try sandbox.apply().status == 0)
        // The store's largest object is the archive; the backup point's copy of it is another file.
        let largest = try Sandbox.shell("find '\(sandbox.state)/store/objects' -type f -printf '%s %p\\n' | sort -n | tail -1 | cut -d' ' -f2-").output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try Sandbox.shell("cp '\(largest)' '\(largest).copy' && mv '\(largest).copy' '\(largest)'")
        try Sandbox.shell("python3 -c \"import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=255; open(p,'wb').write(b)\" '\(largest)'")
        try sandbox.write("data/d1/file-5.txt", "changed\n")
        let second = try sandbox.apply()
        #expect(second.status == 0, "\(second.stdout)\n\(second.stderr)")
        let restored = sandbox.path("restored")
        try FileManager.default.createDirectory(atPath: restored, withIntermediateDirectories: true)
        #expect(try Sandbox.shell("tar -C '\(restored)' -xf '\(sandbox.path("backups/cp.\(format)"))'").status == 0)
        let diff = try Sandbox.shell("diff -r '\(sandbox.path("data"))' '\(restored)/tree'")
        #expect(diff.status == 0, "\(diff.output)")
    }
}
